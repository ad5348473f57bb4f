"""Recording events, reading them back for one person, and deciding which are mailed.

Producers call :func:`record` (small, never raises: the event log must not stop the cycle, a
login or a backup). Recording is idempotent by ``key``: an outage reported twice is one event.
An event of a class chosen on the e-mail page is marked for mail and handed to the Celery task
``events.tasks.send_event_mail`` on the ``default`` queue once the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from events import retention, secret
from events.models import (
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    INFO,
    KINDS,
    MAIL_NONE,
    MAIL_PENDING,
    SEVERITIES,
    Event,
    MailSettings,
)
from pages.params import BadQueryParameter, choice_param, id_param
from portal import roles

log = logging.getLogger(__name__)

# Bounded retention: at most this many events per plant (and as many of the device's own), none
# older than this. Per plant, so that one plant's flood of events never pushes out the others'.
MAX_EVENTS = 10_000
MAX_AGE = dt.timedelta(days=365)
# The count is checked on every this-many-th event (ids grow by one per event), for the event's
# plant; the age by the hourly job (events.tasks.purge_old_events), in batches.
PRUNE_EVERY = 100
MESSAGE_MAX = 500


def record(
    kind: str,
    message: str,
    *,
    plant: Any = None,
    severity: str = INFO,
    source: str = "",
    key: str = "",
    at: dt.datetime | None = None,
    params: dict[str, Any] | None = None,
) -> Event | None:
    """Log one event (``plant``: a Plant, its id, or None for the device as a whole).

    With ``params`` the message is a wording with ``%(name)s`` placeholders (marked for
    translation with ``gettext_noop``): the English text is stored whole, and the wording and the
    values with it, so that pages show the event in their reader's language.

    ``key`` names the occurrence (an outage: device and start); an event with a key already
    logged is not logged again and returns None. Never raises."""
    if kind not in KINDS or severity not in SEVERITIES:
        log.error("event of unknown class %r or severity %r not recorded", kind, severity)
        return None
    plant_id = plant if plant is None or isinstance(plant, int) else plant.pk
    text = ""
    if params is not None:
        params = {name: value if isinstance(value, int | float) else str(value) for name, value in params.items()}
        try:
            message, text = message % params, message
        except (KeyError, TypeError, ValueError):
            log.error("event wording %r does not fit its values %r", message, params)
            params = None
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction
            if key and Event.objects.filter(key=key[:200]).exists():
                return None
            event = Event.objects.create(
                time=at or timezone.now(),
                plant_id=plant_id,
                kind=kind,
                severity=severity,
                source=source[:100],
                message=message[:MESSAGE_MAX],
                text=text if len(text) <= 200 else "",
                params=params or {},
                key=key[:200],
                mail_state=MAIL_PENDING if _mailed(kind) else MAIL_NONE,
            )
    except IntegrityError:  # the same key recorded at the same moment elsewhere
        return None
    except Exception:  # the log must never stop its producer
        log.exception("recording event %s", kind)
        return None
    log.info("event %s (plant %s): %s", kind, plant_id, message)
    if event.mail_state == MAIL_PENDING:
        transaction.on_commit(lambda: _enqueue(event.pk))
    if event.pk % PRUNE_EVERY == 0:
        transaction.on_commit(lambda: prune_plant(plant_id))
    return event


# How far back :func:`open_outages` looks: the latest outage events of the plant.
OPEN_OUTAGE_SCAN = 200


def open_outages(plant_id: int) -> dict[str, dt.datetime]:
    """{device name: start} of the plant's outages that the log holds as open: the device's latest
    outage event is its device_offline, with no device_online after it. A cycle that starts afresh
    (another worker took the plant over, the worker was restarted) resumes from these, so an
    outage stays one event pair however often the plant moves. Raises on a database error."""
    latest: dict[str, tuple[str, str, dt.datetime]] = {}
    rows = (
        Event.objects.filter(plant_id=plant_id, kind__in=(DEVICE_OFFLINE, DEVICE_ONLINE))
        .order_by("-time", "-id")
        .values_list("source", "kind", "key", "time")[:OPEN_OUTAGE_SCAN]
    )
    for source, kind, key, time in rows:
        latest.setdefault(source, (kind, key, time))
    outages = {}
    for source, (kind, key, time) in latest.items():
        if kind == DEVICE_OFFLINE:
            # The key names the outage's start (events.watch): offline:<plant>:<device>:<start>.
            try:
                start = parse_datetime(key.removeprefix(f"offline:{plant_id}:{source}:")) if key else None
            except ValueError:
                start = None
            outages[source] = start or time
    return outages


def _mailed(kind: str) -> bool:
    row = MailSettings.objects.filter(pk=1).first()
    return bool(row and row.enabled and row.host and row.recipient_list() and kind in (row.kinds or []))


def _enqueue(event_id: int) -> None:
    from events.tasks import send_event_mail

    try:
        send_event_mail.apply_async(args=(event_id,), queue="default", retry=False)
    except (OperationalError, OSError):  # broker down: the event stays "waiting", the beat's sweep sends it
        log.warning("mail for event %s not queued: the broker does not answer", event_id)


def prune_plant(plant_id: int | None) -> int:
    """Drop a plant's (``None``: the device's own) events beyond the newest ``MAX_EVENTS``; found
    through the ``(plant, time)`` index. Runs after every ``PRUNE_EVERY``-th event, so it deletes
    about that many rows at a time."""
    mine = Q(plant__isnull=True) if plant_id is None else Q(plant_id=plant_id)
    newest = Event.objects.filter(mine).order_by("-time", "-id")
    cut = list(newest.values_list("time", "id")[MAX_EVENTS : MAX_EVENTS + 1])
    if not cut:
        return 0
    time, pk = cut[0]
    older = Event.objects.filter(mine).filter(Q(time__lt=time) | Q(time=time, id__lte=pk))
    return retention.delete_in_batches(older)


def prune(now: dt.datetime | None = None) -> int:
    """Drop events beyond the retention (count per plant, age); returns how many went. The
    hourly job: plant by plant, in batches."""
    now = now or timezone.now()
    plants: list[int | None] = [*_plant_ids(), None]
    removed = retention.purge_older_than(Event, "time", now - MAX_AGE, plants)
    return removed + sum(prune_plant(plant_id) for plant_id in plants)


def _plant_ids() -> list[int]:
    plant = Event._meta.get_field("plant").related_model
    return list(plant._default_manager.order_by("pk").values_list("pk", flat=True))  # type: ignore[union-attr]


def settings_row() -> MailSettings:
    row, _ = MailSettings.objects.get_or_create(pk=1)
    return row


def set_password(row: MailSettings, password: str | None) -> None:
    """``None`` keeps the stored password, "" removes it, anything else replaces it (encrypted)."""
    if password is not None:
        row.password_encrypted = secret.encrypt(password)


# Reading ------------------------------------------------------------------------------------


def visible_to(user: Any) -> QuerySet[Event]:
    """The events ``user`` may read: those of the plants they have a role on, and the device's
    own (plant empty) only with a role on every plant, as for every device-wide page."""
    readable = roles.readable_plant_ids(user)
    events = Event.objects.select_related("plant")
    if readable is None:
        return events.all()
    if roles.may_read(user, None):
        return events.filter(plant_id__isnull=True) | events.filter(plant_id__in=readable)
    return events.filter(plant_id__in=readable)


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    plant_id: int | None = None
    severity: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def query(self) -> dict[str, str]:
        out = {"kind": self.kind, "severity": self.severity}
        out["plant"] = str(self.plant_id) if self.plant_id else ""
        out["from"] = self.since.isoformat() if self.since else ""
        out["to"] = self.until.isoformat() if self.until else ""
        return {k: v for k, v in out.items() if v}


def _moment(query: Mapping[str, str], name: str, end_of_day: bool) -> dt.datetime | None:
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) > 40:
        raise BadQueryParameter(name, "must be a date (2026-05-01) or a date and time (2026-05-01T12:00:00+00:00)")
    try:
        moment = parse_datetime(raw) if "T" in raw or " " in raw else None
        day = None if moment else parse_date(raw)
    except ValueError:  # well formed, but no such day or time (2026-13-40, 25:00)
        moment = day = None
    if moment is None:
        if day is None:
            raise BadQueryParameter(name, "must be a date (2026-05-01) or a date and time (2026-05-01T12:00:00+00:00)")
        moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def parse_filters(query: Mapping[str, str]) -> Filters:
    """``?kind=&plant=&severity=&from=&to=``, each checked (400 naming the parameter)."""
    kind = choice_param(query, "kind", KINDS, "")
    severity = choice_param(query, "severity", SEVERITIES, "")
    try:
        plant_id = id_param(query, "plant")
    except BadQueryParameter:
        raise BadQueryParameter("plant", "must be a plant's id") from None
    since = _moment(query, "from", end_of_day=False)
    until = _moment(query, "to", end_of_day=True)
    if since and until and since > until:
        raise BadQueryParameter("to", "must not lie before from")
    return Filters(kind, plant_id, severity, since, until)


def filtered(events: QuerySet[Event], filters: Filters) -> QuerySet[Event]:
    """``severity`` is the least severity shown: warning shows warnings and errors."""
    if filters.kind:
        events = events.filter(kind=filters.kind)
    if filters.plant_id:
        events = events.filter(plant_id=filters.plant_id)
    if filters.severity:
        events = events.filter(severity__in=SEVERITIES[SEVERITIES.index(filters.severity) :])
    if filters.since:
        events = events.filter(time__gte=filters.since)
    if filters.until:
        events = events.filter(time__lte=filters.until)
    return events.order_by("-time", "-id")


def recent_for_plant(user: Any, plant: Any, count: int = 5) -> list[Event]:
    """The dashboard's messages: the plant's latest events and the device's own, as ``user`` may see them."""
    if plant is None:
        return []
    events = visible_to(user).filter(plant_id=plant.pk) | visible_to(user).filter(plant_id__isnull=True)
    return list(events.order_by("-time", "-id")[:count])


# The test mail ---------------------------------------------------------------------------------


def test_needs(row: MailSettings) -> str:
    """What a test mail still lacks ("" : nothing)."""
    missing = [
        name
        for name, value in (
            (_("SMTP server"), row.host),
            (_("sender address"), row.sender),
            (_("recipients"), row.recipients),
        )
        if not value
    ]
    return (_("A test mail needs: %(missing)s.") % {"missing": ", ".join(missing)}) if missing else ""


def send_test(row: MailSettings, password: str) -> tuple[bool, str]:
    """Send one test mail with ``row``'s server (saved or not): (accepted, the server's answer)."""
    from events import mail

    server = mail.Server.of(row, password)
    subject = _("KSEM test mail")
    body = _("This test mail was sent from the energy manager's e-mail settings page.") + "\n"
    try:
        reply = mail.send(server, row.recipient_list(), subject, body)
    except mail.MailError as exc:
        return False, _("Not sent: %(reason)s") % {"reason": exc}
    return True, _("Accepted by %(server)s: %(reply)s") % {"server": f"{server.host}:{server.port}", "reply": reply}
