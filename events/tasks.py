"""The mail of an event, sent by the worker (queue ``default``) with retries and a rate limit.

An event is mailed at most once: the task claims it (waiting -> sending) in one UPDATE, so a
task delivered twice sends nothing the second time. Connection problems and 4xx answers are
retried with growing waits; refusals (5xx, login refused) and the last failed try mark the
event's mail as failed with the reason, shown in the event log.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from events import mail, services
from events.models import MAIL_FAILED, MAIL_PENDING, MAIL_RATE_LIMITED, MAIL_SENDING, MAIL_SENT, Event

log = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BASE_S = 30.0


def subject_and_body(event: Event) -> tuple[str, str]:
    """The mail in the installation's language (``LANGUAGE_CODE``), whatever language the thread
    that sends it last served a page in."""
    with translation.override(settings.LANGUAGE_CODE):
        return _subject_and_body(event)


def _subject_and_body(event: Event) -> tuple[str, str]:
    where = event.plant.name if event.plant else _("device")
    subject = f"[KSEM {where}] {event.get_kind_display()}: {event.localized_message}"[:200]
    lines = [
        f"{_('Time')}: {event.time.isoformat(timespec='seconds')}",
        f"{_('Plant')}: {where}",
        f"{_('Class')}: {event.get_kind_display()}",
        f"{_('Severity')}: {event.get_severity_display()}",
    ]
    if event.source:
        lines.append(f"{_('Source')}: {event.source}")
    lines += ["", event.localized_message]
    return subject, "\n".join(lines) + "\n"


@shared_task(bind=True, max_retries=MAX_RETRIES, ignore_result=True)
def send_event_mail(self: Any, event_id: int) -> str:
    """Mail one event if it is waiting; returns what became of it."""
    if not Event.objects.filter(pk=event_id, mail_state=MAIL_PENDING).update(mail_state=MAIL_SENDING):
        return "not waiting"
    event = Event.objects.select_related("plant").get(pk=event_id)
    row = services.settings_row()
    recipients = row.recipient_list()
    if not (row.enabled and row.host and row.sender and recipients):
        Event.objects.filter(pk=event_id).update(mail_state=MAIL_FAILED, mail_error="e-mail is switched off")
        return "switched off"
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    if Event.objects.filter(mail_state=MAIL_SENT, mailed_at__gte=hour_ago).count() >= row.max_per_hour:
        Event.objects.filter(pk=event_id).update(
            mail_state=MAIL_RATE_LIMITED, mail_error=f"more than {row.max_per_hour} mails in an hour"
        )
        return "rate limited"
    subject, body = subject_and_body(event)
    try:
        reply = mail.send(mail.Server.of(row), recipients, subject, body)
    except mail.MailError as exc:
        if exc.temporary and self.request.retries < MAX_RETRIES:
            Event.objects.filter(pk=event_id).update(mail_state=MAIL_PENDING, mail_error=str(exc)[:500])
            log.warning("mail for event %s: %s; trying again", event_id, exc)
            raise self.retry(countdown=RETRY_BASE_S * 2**self.request.retries) from None
        Event.objects.filter(pk=event_id).update(mail_state=MAIL_FAILED, mail_error=str(exc)[:500])
        log.warning("mail for event %s not sent: %s", event_id, exc)
        return "failed"
    Event.objects.filter(pk=event_id).update(mail_state=MAIL_SENT, mailed_at=timezone.now(), mail_error=reply[:500])
    return "sent"


@shared_task(ignore_result=True)
def send_waiting_mails() -> int:
    """Queue again the mails of events still waiting after a broker outage (beat, every 5 minutes)."""
    stale = timezone.now() - dt.timedelta(minutes=5)
    ids = list(Event.objects.filter(mail_state=MAIL_PENDING, time__lt=stale).values_list("id", flat=True)[:100])
    for event_id in ids:
        send_event_mail.apply_async(args=(event_id,), queue="default")
    return len(ids)


@shared_task(ignore_result=True)
def purge_old_events() -> int:
    """Hourly (beat, queue default): events older than a year and beyond 10,000 per plant, in batches."""
    removed = services.prune(timezone.now())
    if removed:
        log.info("purged %s events", removed)
    return removed
