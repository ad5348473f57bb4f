"""The device side of the solar-portal uplink (SP-1): the settings, the outbox and its delivery.

Every call takes ``now`` so that tests (and a clock check) can step time instead of waiting.

- ``queue_reports``: for each plant that is switched on, one XML report per completed 15-minute
  interval goes into the outbox (``OutboxReport``), built from the plant's 5-minute log
  (``meter.MeterLog``) and its energy counters (``meter.EnergyRecord``). The report id is the
  serial number and the interval start, unique in the outbox and at the portal.
- ``deliver``: the oldest unsent report of a plant is posted; only when the portal acknowledged
  it (stored, or already stored) comes the next one, so reports arrive in order. A failure keeps
  it in the outbox and waits 30 s, 60 s, 120 s ... (at most 15 min) before the next try.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import ipaddress
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from solarportal import report as r
from solarportal import secret
from solarportal.models import OutboxReport, Uplink

log = logging.getLogger(__name__)

# Our own article number (the vendor's is not ours to use); KSEM_ARTICLE_NUMBER overrides it.
DEFAULT_ARTICLE_NUMBER = "EMG2-0001"
# The date this release was built: a clock before it is certainly wrong (no report is queued then).
BUILD_DATE = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
# The 5-minute log row of an interval's last step is written at its end; wait this long after.
GRACE = dt.timedelta(minutes=2)
# After switching on, at most this far back is reported (the 5-minute log is kept 14 days).
MAX_BACKLOG = dt.timedelta(days=14)
BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 900.0
SEND_TIMEOUT_S = 20.0
LEASE = dt.timedelta(seconds=120)
KEEP_SENT = dt.timedelta(days=14)
CLOCK_TOLERANCE_S = 300.0
MAX_PER_DELIVERY = 200
SIGNATURE_HEADER = "X-Solarportal-Signature"
SERIAL_HEADER = "X-Solarportal-Serial"
CONTENT_TYPE = "application/xml"
LOOPBACK_HOSTS = frozenset({"localhost"})


def article_number() -> str:
    return str(getattr(settings, "KSEM_ARTICLE_NUMBER", "") or DEFAULT_ARTICLE_NUMBER)


def plant_model() -> Any:
    return apps.get_model("plant", "Plant")


def uplink_of(plant: Any) -> Uplink:
    row, _created = Uplink.objects.get_or_create(plant_id=plant.pk)
    return row


def backoff_s(attempts: int) -> float:
    """Wait after the ``attempts``-th failure in a row: 30 s, 60 s, 120 s ... at most 15 min."""
    if attempts <= 0:
        return 0.0
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(attempts - 1, 20))


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> str:
    """The endpoint URL, or ValueError saying why not: https://…, or http:// to this machine
    (127.0.0.1, ::1, localhost: the built-in portal, tests) when not in production."""
    url = url.strip()
    if not url:
        return ""
    if len(url) > 500:
        raise ValueError(_("The URL is longer than 500 characters."))
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ValueError(_("The URL must start with https://."))
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(_("The port in the URL is not valid.")) from None
    if not host:
        raise ValueError(_("The URL needs a host, e.g. https://portal.example.com/solarportal/receive/."))
    if parts.username or parts.password:
        raise ValueError(_("Put no user or password into the URL; use the credential field."))
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(host):
        if settings.PRODUCTION:
            raise ValueError(_("In production the portal is reached over HTTPS only."))
        return url
    raise ValueError(_("Use https://; plain http:// is allowed only to this machine (127.0.0.1)."))


def credential(row: Uplink) -> str:
    return secret.decrypt(row.credential_encrypted)


def save_settings(
    plant: Any, *, enabled: bool, endpoint_url: str, credential: str | None, now: dt.datetime | None = None
) -> Uplink:
    """Store the settings (validated by the caller). Switching on starts with the running interval;
    reports already in the outbox stay and go out while the uplink is on."""
    now = now or timezone.now()
    row = uplink_of(plant)
    if enabled and not row.enabled:
        row.next_interval = r.interval_start(now)
    row.enabled = enabled
    row.endpoint_url = endpoint_url
    if credential is not None:
        row.credential_encrypted = secret.encrypt(credential)
    row.save()
    return row


def missing_for_on(endpoint_url: str, has_credential: bool) -> str | None:
    if not endpoint_url:
        return _("Enter the portal's endpoint URL before switching the transfer on.")
    if not has_credential:
        return _("Enter the credential the portal issued for this plant before switching the transfer on.")
    return None


# ---- building reports --------------------------------------------------------------------------


def build_report(plant: Any, start: dt.datetime, machine_id: str = "") -> r.Report:
    """The report of the interval starting at ``start``, from the 5-minute log and the energy records."""
    end = start + r.INTERVAL
    entries = []
    rows = apps.get_model("meter", "MeterLog").objects.filter(plant=plant, start__gte=start, start__lt=end)
    for row in rows.order_by("start"):
        values = {name: float(v) for name in r.VALUE_NAMES if (v := getattr(row, name)) is not None}
        entries.append(r.LogEntry(row.start, int(row.samples), bool(row.gap), {} if row.gap else values))
    counters: dict[str, tuple[float | None, float | None]] = {}
    records = apps.get_model("meter", "EnergyRecord").objects.filter(plant=plant)
    # The counters at the interval's edges: the records at (or just before) its start and end.
    first = records.filter(time__lte=start, time__gt=start - r.LOG_STEP).order_by("-time").first()
    last = records.filter(time__lte=end, time__gt=start).order_by("-time").first()
    if first is not None or last is not None:
        for name in r.COUNTER_NAMES:
            counters[name] = (
                getattr(first, name) if first is not None else None,
                getattr(last, name) if last is not None else None,
            )
    return r.Report(
        serial=plant.serial_number,
        article=article_number(),
        machine_id=machine_id,
        time_zone=plant.time_zone,
        start=start,
        counters=counters,
        entries=tuple(entries),
    )


def queue_reports(now: dt.datetime | None = None) -> int:
    """Put every completed interval of every switched-on plant into the outbox; the count added."""
    now = now or timezone.now()
    if now < BUILD_DATE:
        log.warning("solar portal: the clock says %s, before this release was built; no reports queued", now)
        return 0
    added = 0
    for row in Uplink.objects.filter(enabled=True).select_related("plant"):
        start = row.next_interval or r.interval_start(now)
        start = max(start, r.interval_start(now - MAX_BACKLOG))
        while start + r.INTERVAL + GRACE <= now:
            report = build_report(row.plant, start, row.machine_id)
            try:
                with transaction.atomic():
                    OutboxReport.objects.create(
                        plant_id=row.plant_id,
                        report_id=report.report_id,
                        interval_start=start,
                        xml=r.to_xml(report).decode(),
                        created_at=now,
                        next_attempt_at=now,
                    )
                added += 1
            except IntegrityError:  # already queued (a second beat, a clock that went back): once only
                pass
            start += r.INTERVAL
        if start != row.next_interval:
            Uplink.objects.filter(pk=row.pk).update(next_interval=start)
    OutboxReport.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    return added


def plants_due(now: dt.datetime | None = None) -> list[int]:
    """Plants switched on with a report whose next try is due."""
    now = now or timezone.now()
    enabled = Uplink.objects.filter(enabled=True).values_list("plant_id", flat=True)
    due = OutboxReport.objects.filter(plant_id__in=list(enabled), sent_at__isnull=True, next_attempt_at__lte=now)
    return sorted(set(due.values_list("plant_id", flat=True)))


# ---- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str
    status: int | None = None
    portal_time: dt.datetime | None = None
    machine_id: str = ""


def sign(body: bytes, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _portal_time(headers: Any) -> dt.datetime | None:
    raw = headers.get("Date") if headers is not None else None
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def post_report(url: str, serial: str, key: str, body: bytes, report_id: str) -> Answer:
    """One HTTP(S) POST; what the portal said, or why nothing was said. Only an acknowledgement of
    this very report counts as delivered (a 200 from a wrong URL or a proxy does not)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": f"{CONTENT_TYPE}; charset=utf-8",
            SERIAL_HEADER: serial,
            SIGNATURE_HEADER: sign(body, key),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as response:
            answer = response.read(16 * 1024)
            when = _portal_time(response.headers)
            ack = r.parse_ack(answer)
            if ack is None or ack.report_id != report_id:
                return Answer(False, _("HTTP %(status)s but no acknowledgement of report %(id)s")
                              % {"status": response.status, "id": report_id}, response.status, when)  # fmt: skip
            return Answer(True, ack.status, response.status, when, ack.machine_id)
    except urllib.error.HTTPError as exc:
        text = exc.read(2048).decode("utf-8", "replace").strip()
        return Answer(False, f"HTTP {exc.code}: {text or exc.reason}", exc.code, _portal_time(exc.headers))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(False, _("no answer from the portal: %(reason)s") % {"reason": reason})


def _take_lease(row: Uplink, now: dt.datetime) -> bool:
    free = Q(sending_until__isnull=True) | Q(sending_until__lt=now)
    return Uplink.objects.filter(free, pk=row.pk).update(sending_until=now + LEASE) == 1


def deliver(plant_id: int, now: dt.datetime | None = None) -> int:
    """Send the plant's due reports, oldest first, until one fails; the count acknowledged."""
    now = now or timezone.now()
    row = Uplink.objects.filter(plant_id=plant_id, enabled=True).select_related("plant").first()
    if row is None or not row.endpoint_url:
        return 0
    if not _take_lease(row, now):
        return 0  # another delivery of this plant is running: it keeps the order
    sent = 0
    try:
        key = credential(row)
        pending = OutboxReport.objects.filter(plant_id=plant_id, sent_at__isnull=True).order_by("interval_start")
        for item in pending[:MAX_PER_DELIVERY]:
            if item.next_attempt_at > now:
                break  # the oldest waits for its retry, and everything after it waits behind it
            answer = post_report(row.endpoint_url, row.plant.serial_number, key, item.xml.encode(), item.report_id)
            _record_answer(row, answer, now)
            if answer.ok:
                item.sent_at = now
                item.last_error = ""
                item.attempts += 1
                item.save(update_fields=["sent_at", "last_error", "attempts"])
                sent += 1
                continue
            item.attempts += 1
            item.last_error = answer.text[:500]
            item.next_attempt_at = now + dt.timedelta(seconds=backoff_s(item.attempts))
            item.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            log.warning("solar portal: plant %s report %s not delivered: %s", plant_id, item.report_id, answer.text)
            break
    finally:
        Uplink.objects.filter(pk=row.pk).update(sending_until=None)
    return sent


def _record_answer(row: Uplink, answer: Answer, now: dt.datetime) -> None:
    changes: dict[str, Any] = {"last_request_at": now}
    if answer.status is not None:
        changes["last_response_at"] = now
        changes["last_response"] = (f"HTTP {answer.status}: {answer.text}" if answer.ok else answer.text)[:500]
        if answer.portal_time is not None:
            changes["clock_offset_s"] = (answer.portal_time - timezone.now()).total_seconds()
    else:
        changes["last_response"] = answer.text[:500]
    if answer.machine_id:
        changes["machine_id"] = answer.machine_id
        row.machine_id = answer.machine_id
    Uplink.objects.filter(pk=row.pk).update(**changes)


# ---- status ------------------------------------------------------------------------------------


def clock_warnings(plant: Any, row: Uplink, now: dt.datetime | None = None) -> list[str]:
    """What looks wrong with the clock or the time zone (the portal would file data at wrong times)."""
    now = now or timezone.now()
    warnings = []
    if now < BUILD_DATE:
        warnings.append(
            _("The device clock says %(now)s, before this software was built (%(build)s): set the date and time.")
            % {"now": f"{now:%Y-%m-%d %H:%M} UTC", "build": f"{BUILD_DATE:%Y-%m-%d}"}
        )
    newest = apps.get_model("meter", "MeterLog").objects.filter(plant=plant).order_by("-start").first()
    if newest is not None and newest.start > now + r.LOG_STEP:
        warnings.append(
            _("The log has data from %(when)s, which is in the future: the clock was set back or is wrong.")
            % {"when": f"{newest.start:%Y-%m-%d %H:%M} UTC"}
        )
    if row.clock_offset_s is not None and abs(row.clock_offset_s) > CLOCK_TOLERANCE_S:
        warnings.append(
            _("The portal's clock differs from this device's by %(minutes)d minutes: check date and time.")
            % {"minutes": round(row.clock_offset_s / 60)}
        )
    if plant.time_zone in {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Universal", "Zulu"}:
        warnings.append(
            _("The plant's time zone is %(zone)s: the portal shows local times, so check it is where the plant is.")
            % {"zone": plant.time_zone}
        )
    return warnings


def status(plant: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    row = uplink_of(plant)
    pending = OutboxReport.objects.filter(plant_id=plant.pk, sent_at__isnull=True)
    oldest = pending.order_by("interval_start").first()
    last_sent = (
        OutboxReport.objects.filter(plant_id=plant.pk, sent_at__isnull=False).order_by("-interval_start").first()
    )
    return {
        "enabled": row.enabled,
        "endpoint_url": row.endpoint_url,
        "credential_set": bool(row.credential_encrypted),
        "last_request": row.last_request_at,
        "last_response": row.last_response_at,
        "last_response_text": row.last_response,
        "machine_id": row.machine_id,
        "serial_number": plant.serial_number,
        "article_number": article_number(),
        "pending": pending.count(),
        "oldest_pending": oldest.report_id if oldest else None,
        "oldest_pending_error": oldest.last_error if oldest else "",
        "next_attempt": oldest.next_attempt_at if oldest else None,
        "last_sent": last_sent.report_id if last_sent else None,
        "warnings": clock_warnings(plant, row, now),
    }
