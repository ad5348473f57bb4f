"""The checks of the e-mail settings, shared by the page's form and the API's serializer."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from events.models import KINDS, split_addresses

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_RECIPIENTS = 20


def check_host(raw: str) -> str:
    """A host name (letters, digits and - per label) or an IP address; no scheme, port or path."""
    host = (raw or "").strip()
    if not host:
        return ""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host.strip("[]")
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(
            _("“%(host)s” is no host name or IP address (no scheme, port or path).") % {"host": host[:80]}
        )
    return host


def check_addresses(raw: str) -> str:
    """One or more e-mail addresses, one a line or comma-separated; stored one a line."""
    addresses = split_addresses(raw or "")
    if len(addresses) > MAX_RECIPIENTS:
        raise ValidationError(_("At most %(count)d recipients.") % {"count": MAX_RECIPIENTS})
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address[:80])
    if bad:
        raise ValidationError(_("Not an e-mail address: %(addresses)s") % {"addresses": ", ".join(bad)})
    return "\n".join(addresses)


def check_kinds(raw: Any) -> list[str]:
    if not isinstance(raw, list | tuple) or not all(isinstance(kind, str) for kind in raw):
        raise ValidationError(_("A list of event classes."))
    unknown = [kind for kind in raw if kind not in KINDS]
    if unknown:
        raise ValidationError(
            _("Unknown event class %(kinds)s; use %(known)s.")
            % {"kinds": ", ".join(unknown[:5])[:200], "known": ", ".join(KINDS)}
        )
    return [kind for kind in KINDS if kind in raw]


def check_complete(enabled: bool, host: str, sender: str, recipients: str) -> dict[str, str]:
    """What switching mail on needs: {field: problem}."""
    if not enabled:
        return {}
    problems = {}
    if not host:
        problems["host"] = _("Needed to send mail.")
    if not sender:
        problems["sender"] = _("Needed to send mail.")
    if not split_addresses(recipients):
        problems["recipients"] = _("Needed to send mail.")
    return problems
