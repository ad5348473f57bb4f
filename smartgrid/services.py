"""The grid operator's limits, stored: every event (heartbeat, limit write, failsafe write,
restart) and every timer that fired goes through here, in one transaction per plant, so the
state machine's facts and the history stay together. The EEBus service calls these (through
:class:`smartgrid.backend.SmartgridBackend`), the worker calls :func:`settle` when a timer fired
in the cycle, pages and the API read :func:`status` and :func:`history_page`.

Every save announces itself (the plant's config generation), so the next cycle takes the new
facts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from energy import gridlimit as g
from energy import gridlimit_history as gh
from events import services as events
from events.models import GRID_LIMIT_ENDED, GRID_LIMIT_RECEIVED, INFO, WARNING
from smartgrid.models import GridLimitEntry, GridLimits

log = logging.getLogger(__name__)

HISTORY_PER_PAGE = 10
Change = tuple[g.Facts, tuple[g.Transition, ...]]


def _machine(row: GridLimits, prefix: str, now: dt.datetime) -> g.Machine:
    written_at = getattr(row, f"{prefix}_written_at")
    limit = None
    if written_at is not None and getattr(row, f"{prefix}_limit_w") is not None:
        limit = g.WrittenLimit(
            active=bool(getattr(row, f"{prefix}_limit_active")),
            value_w=float(getattr(row, f"{prefix}_limit_w")),
            written_at=written_at,
            duration_s=getattr(row, f"{prefix}_duration_s"),
        )
    return g.Machine(
        state=getattr(row, f"{prefix}_state"),
        since=getattr(row, f"{prefix}_since") or now,
        limit=limit,
        heard_at=getattr(row, f"{prefix}_heard_at"),
    )


def facts_of(row: GridLimits, now: dt.datetime | None = None) -> g.Facts:
    """The state machine's facts as stored."""
    now = now or timezone.now()
    return g.Facts(
        consume=_machine(row, "lpc", now),
        produce=_machine(row, "lpp", now),
        last_heartbeat_at=row.last_heartbeat_at,
        failsafe_consumption_w=row.failsafe_consumption_w,
        failsafe_production_w=row.failsafe_production_w,
        failsafe_duration_s=row.failsafe_duration_s,
        consumption_nominal_max_w=row.consumption_nominal_max_w,
        production_nominal_max_w=row.production_nominal_max_w,
    )


def _store_facts(row: GridLimits, facts: g.Facts) -> None:
    for prefix, m in (("lpc", facts.consume), ("lpp", facts.produce)):
        setattr(row, f"{prefix}_state", m.state)
        setattr(row, f"{prefix}_since", m.since)
        setattr(row, f"{prefix}_heard_at", m.heard_at)
        limit = m.limit
        setattr(row, f"{prefix}_limit_active", limit.active if limit else None)
        setattr(row, f"{prefix}_limit_w", limit.value_w if limit else None)
        setattr(row, f"{prefix}_written_at", limit.written_at if limit else None)
        setattr(row, f"{prefix}_duration_s", limit.duration_s if limit else None)
    row.last_heartbeat_at = facts.last_heartbeat_at
    row.failsafe_consumption_w = facts.failsafe_consumption_w
    row.failsafe_production_w = facts.failsafe_production_w
    row.failsafe_duration_s = facts.failsafe_duration_s
    row.consumption_nominal_max_w = facts.consumption_nominal_max_w
    row.production_nominal_max_w = facts.production_nominal_max_w


def settings_of(plant_id: int) -> GridLimits:
    """The plant's row, created with the defaults (both directions in init since now)."""
    row = GridLimits.objects.filter(plant_id=plant_id).first()
    if row is not None:
        return row
    now = timezone.now()
    row = GridLimits(plant_id=plant_id)
    _store_facts(row, g.initial(now))
    row.save()
    return row


def _record(plant_id: int, facts: g.Facts, transitions: Iterable[g.Transition]) -> None:
    """Close the current entry and open a new one where a transition changes kind or limit;
    then drop what lies beyond the ring's size."""
    added = False
    for transition in transitions:
        entry = gh.entry_of(facts, transition)
        current = (
            GridLimitEntry.objects.filter(plant_id=plant_id, direction=entry.direction, valid_to__isnull=True)
            .order_by("-id")
            .first()
        )
        if current is not None:
            previous = gh.HistoryEntry(
                direction=current.direction, kind=current.kind, value_w=current.value_w, valid_from=current.valid_from
            )
            if gh.same_period(previous, entry):
                continue
            GridLimitEntry.objects.filter(plant_id=plant_id, direction=entry.direction, valid_to__isnull=True).update(
                valid_to=entry.valid_from
            )
        GridLimitEntry.objects.create(
            plant_id=plant_id,
            direction=entry.direction,
            kind=entry.kind,
            value_w=entry.value_w,
            valid_from=entry.valid_from,
        )
        added = True
        if current is not None or entry.kind != g.UNLIMITED:
            _event(plant_id, entry)
    if added:
        cut = (
            GridLimitEntry.objects.filter(plant_id=plant_id)
            .order_by("-id")
            .values_list("id", flat=True)[gh.HISTORY_SIZE : gh.HISTORY_SIZE + 1]
        )
        oldest_kept = list(cut)
        if oldest_kept:
            GridLimitEntry.objects.filter(plant_id=plant_id, id__lte=oldest_kept[0]).delete()


# The event log's wording per direction: ended, failsafe value in force, limit received.
_WORDING = {
    g.CONSUME: (
        gettext_noop("consumption limit (LPC) ended"),
        gettext_noop("consumption limit (LPC): failsafe value %(value)s in force"),
        gettext_noop("consumption limit (LPC) %(value)s received"),
    ),
    g.PRODUCE: (
        gettext_noop("production limit (LPP) ended"),
        gettext_noop("production limit (LPP): failsafe value %(value)s in force"),
        gettext_noop("production limit (LPP) %(value)s received"),
    ),
}


def _event(plant_id: int, entry: gh.HistoryEntry) -> None:
    """The event log's entry (DEV-3): a limit received (or its failsafe value), or its end."""
    ended, failsafe, received = _WORDING.get(entry.direction, _WORDING[g.CONSUME])
    params = {"value": f"{entry.value_w:.0f} W" if entry.value_w is not None else ""}
    if entry.kind == g.UNLIMITED:
        kind, severity, message = GRID_LIMIT_ENDED, INFO, ended
    elif entry.kind == g.FAILSAFE_KIND:
        kind, severity, message = GRID_LIMIT_RECEIVED, WARNING, failsafe
    else:
        kind, severity, message = GRID_LIMIT_RECEIVED, INFO, received
    events.record(
        kind, message, params=params, plant=plant_id, severity=severity, source="grid operator", at=entry.valid_from
    )


def _change(plant_id: int, apply: Callable[[g.Facts], Change], *, writer: str = "", save: bool = True) -> GridLimits:
    """One event, in one transaction with the row locked: facts -> facts' (+ history)."""
    with transaction.atomic():
        settings_of(plant_id)
        row = GridLimits.objects.select_for_update().get(plant_id=plant_id)
        before = facts_of(row)
        facts, transitions = apply(before)  # may raise g.Rejected: nothing saved
        if facts == before and not transitions and not save:
            return row
        _store_facts(row, facts)
        if writer:
            row.last_writer = writer
        row.save()
        if row.enabled:
            _record(plant_id, facts, transitions)
    return row


def settle(plant_id: int, now: dt.datetime | None = None) -> None:
    """Apply the timers due by ``now`` (a limit's end, a lost heartbeat, ...) and record them."""
    now = now or timezone.now()
    _change(plant_id, lambda f: g.advance(f, now), save=False)


def heartbeat(plant_id: int, *, peer_ski: str = "", counter: int | None = None, now: dt.datetime | None = None) -> None:
    """The energy guard's heartbeat arrived."""
    at = now or timezone.now()

    def apply(facts: g.Facts) -> Change:
        return g.heartbeat(facts, at)

    row = _change(plant_id, apply)
    if peer_ski or counter is not None:
        GridLimits.objects.filter(pk=row.pk).update(last_heartbeat_peer=peer_ski[:64], last_heartbeat_counter=counter)


def write_limit(
    plant_id: int,
    direction: str,
    *,
    active: bool,
    value_w: float,
    duration_s: float | None,
    peer_ski: str = "",
    now: dt.datetime | None = None,
) -> None:
    """The energy guard writes a limit (magnitude in W); raises :class:`energy.gridlimit.Rejected`."""
    at = now or timezone.now()

    def apply(facts: g.Facts) -> Change:
        return g.write_limit(facts, direction, active=active, value_w=value_w, duration_s=duration_s, at=at)

    if not settings_of(plant_id).enabled:
        raise g.Rejected("this plant is not controlled by the grid operator (EEBus LPC/LPP is off)")
    _change(plant_id, apply, writer=peer_ski[:64])
    log.info("grid operator's %s limit written: active=%s %.0f W for %s s", direction, active, value_w, duration_s)


def write_failsafe(
    plant_id: int,
    direction: str | None,
    value_w: float | None,
    duration_s: float | None,
    *,
    peer_ski: str = "",
    now: dt.datetime | None = None,
) -> None:
    """New failsafe values (from the energy guard or the installer); raises ``Rejected``."""
    at = now or timezone.now()

    def apply(facts: g.Facts) -> Change:
        facts, transitions = g.advance(facts, at)
        return g.write_failsafe(facts, direction, value_w, duration_s), transitions

    _change(plant_id, apply, writer=peer_ski[:64])


def restart(plant_id: int, now: dt.datetime | None = None) -> None:
    """The controllable system (re)started: init, limited to the failsafe values (LPC-TS-017)."""
    at = now or timezone.now()
    _change(plant_id, lambda f: g.restart(f, at))


def set_enabled(plant_id: int, enabled: bool, now: dt.datetime | None = None) -> None:
    """Switch the grid operator's control on (starting in init) or off (no limits, history closed)."""
    at = now or timezone.now()
    with transaction.atomic():
        settings_of(plant_id)
        row = GridLimits.objects.select_for_update().get(plant_id=plant_id)
        if row.enabled == enabled:
            return
        row.enabled = enabled
        if enabled:
            facts, transitions = g.restart(facts_of(row, at), at)
            _store_facts(row, facts)
            row.save()
            _record(plant_id, facts, transitions)
        else:
            row.save()
            GridLimitEntry.objects.filter(plant_id=plant_id, valid_to__isnull=True).update(valid_to=at)


def save_settings(
    plant_id: int,
    *,
    enabled: bool,
    failsafe_consumption_w: float,
    failsafe_production_w: float,
    failsafe_duration_s: float,
    consumption_nominal_max_w: float,
    production_nominal_max_w: float,
) -> None:
    """The installer's settings, validated by the same rules as a write from the energy guard."""
    for name, value in (("consumption", consumption_nominal_max_w), ("production", production_nominal_max_w)):
        if not 0 <= value <= 1e6:
            raise g.Rejected(f"the {name} nominal max must be between 0 W and 1 MW")
    write_failsafe(plant_id, g.CONSUME, failsafe_consumption_w, failsafe_duration_s)
    write_failsafe(plant_id, g.PRODUCE, failsafe_production_w, None)
    GridLimits.objects.filter(plant_id=plant_id).update(
        consumption_nominal_max_w=consumption_nominal_max_w, production_nominal_max_w=production_nominal_max_w
    )
    set_enabled(plant_id, enabled)
    # The queryset updates above send no signal; the saves inside do.
    GridLimits.objects.get(plant_id=plant_id).save(update_fields=["enabled"])


def cycle_facts(plant_id: int) -> g.Facts | None:
    """What the cycle needs: the stored facts, or ``None`` while the plant is not controlled."""
    row = GridLimits.objects.filter(plant_id=plant_id).first()
    if row is None or not row.enabled:
        return None
    return facts_of(row)


def status(plant_id: int, now: dt.datetime | None = None) -> g.GridLimitStatus | None:
    """The state and the limits in force now (``None`` while the plant is not controlled)."""
    facts = cycle_facts(plant_id)
    return g.status(facts, now or timezone.now()) if facts is not None else None


@dataclass(frozen=True)
class HistoryPage:
    entries: list[GridLimitEntry]
    number: int
    pages: int
    count: int

    @property
    def first(self) -> int:
        return 1

    @property
    def last(self) -> int:
        return self.pages

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def history_page(plant_id: int, page: int = 1, per_page: int = HISTORY_PER_PAGE) -> HistoryPage:
    """Page ``page`` (1 = newest), clamped into the pages there are."""
    entries = GridLimitEntry.objects.filter(plant_id=plant_id).order_by("-id")
    count = entries.count()
    pages = max(1, -(-count // per_page))
    number = min(max(1, page), pages)
    start = (number - 1) * per_page
    return HistoryPage(list(entries[start : start + per_page]), number, pages, count)


def entry_data(entry: GridLimitEntry) -> dict[str, Any]:
    return {
        "direction": entry.direction,
        "kind": entry.kind,
        "value_w": entry.value_w,
        "valid_from": entry.valid_from.isoformat(),
        "valid_to": entry.valid_to.isoformat() if entry.valid_to else None,
    }


def status_data(st: g.GridLimitStatus | None) -> dict[str, Any]:
    """The state as JSON-ready data (API)."""
    if st is None:
        return {"enabled": False}

    def one(d: g.DirectionStatus) -> dict[str, Any]:
        return {
            "state": d.state,
            "since": d.since.isoformat(),
            "limit_w": d.limit_w,
            "until": d.until.isoformat() if d.until else None,
        }

    return {
        "enabled": True,
        "failsafe_active": st.failsafe,
        "lpc": one(st.consume),
        "lpp": one(st.produce),
        "heartbeat_at": st.heartbeat_at.isoformat() if st.heartbeat_at else None,
    }
