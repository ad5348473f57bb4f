"""Producers below this app announce their events by signals; here they become log entries."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils.translation import gettext_noop

from events import services
from events.models import LOGIN_LOCKOUT, WARNING
from portal import guard


@receiver(guard.lockout_started, dispatch_uid="events-login-lockout")
def _login_lockout(sender: Any, client: str, failures: int, lockout_s: int, **kwargs: Any) -> None:
    minutes = max(1, -(-int(lockout_s) // 60))
    services.record(
        LOGIN_LOCKOUT,
        gettext_noop("address %(client)s locked out for %(minutes)s min after %(failures)s wrong passwords or codes"),
        params={"client": client, "minutes": minutes, "failures": failures},
        severity=WARNING,
        source=client,
    )
