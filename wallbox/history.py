"""The records the cycle leaves: charging sessions and the phase-switching log (WB-12), through
:func:`record_cycle` and its pure helpers; a pending setup is retried (as a job) once its box is
seen without a vehicle."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from energy.state import WALLBOX_CHARGING, PlantState, WallboxState
from wallbox import jobs
from wallbox.configs import plant_model
from wallbox.models import ChargingSession, PhaseSwitchEvent, Wallbox

# A pending setup is retried at most this often from the cycle's bookkeeping.
SETUP_RETRY_S = 30.0
# Longer gaps between two cycles are not counted as charging (the worker was down).
MAX_GAP_S = 10.0
# Accumulated energy is written to the open session at least this often.
SESSION_FLUSH_S = 60.0
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BoxStep:
    """What one cycle of one box means for the records."""

    start_session: bool = False
    end_session: bool = False
    energy_wh: float = 0.0
    solar_wh: float = 0.0
    charging_s: float = 0.0
    switched_to_phases: int | None = None


def solar_fraction(state: PlantState) -> float:
    """Share of the charging power that came from PV right now (0-1).

    The vehicles count as the last consumer: grid purchase is charged to them first, so
    ``(charging power - purchase) / charging power``, clamped. Without a grid value: 0.
    """
    charging_w = sum(max(0.0, box.power_w or 0.0) for box in state.wallboxes)
    grid_w = state.flow.grid_power_w
    if charging_w <= 0 or grid_w is None:
        return 0.0
    return max(0.0, min(1.0, (charging_w - max(0.0, grid_w)) / charging_w))


def box_step(
    previous: WallboxState | None, current: WallboxState, elapsed_s: float, fraction: float, session_open: bool
) -> BoxStep:
    """Pure: from two consecutive states of a box, whether a session starts or ends, the energy of
    this cycle (the box's session counter where it has one, else power * time) and a phase switch.

    An offline box changes nothing: unknown is not "unplugged".
    """
    if not current.status.online:
        return BoxStep()
    start = current.vehicle_connected and not session_open
    end = session_open and not current.vehicle_connected
    energy_wh = 0.0
    charging_s = 0.0
    power_w = max(0.0, current.power_w or 0.0)
    elapsed_s = max(0.0, min(elapsed_s, MAX_GAP_S))
    if current.vehicle_connected and not start:
        energy_wh = power_w * elapsed_s / 3600.0
        if (
            previous is not None
            and previous.session_energy_wh is not None
            and current.session_energy_wh is not None
            and current.session_energy_wh >= previous.session_energy_wh
            and previous.vehicle_connected
        ):
            energy_wh = current.session_energy_wh - previous.session_energy_wh
        if current.state == WALLBOX_CHARGING or power_w > 0:
            charging_s = elapsed_s
    switched = None
    if (
        previous is not None
        and previous.status.online
        and previous.phases in (1, 3)
        and current.phases in (1, 3)
        and previous.phases != current.phases
    ):
        switched = current.phases
    return BoxStep(
        start_session=start,
        end_session=end,
        energy_wh=energy_wh,
        solar_wh=energy_wh * max(0.0, min(1.0, fraction)),
        charging_s=charging_s,
        switched_to_phases=switched,
    )


@dataclass
class _OpenSession:
    session_id: int
    energy_wh: float = 0.0
    solar_wh: float = 0.0
    charging_s: float = 0.0
    started: dt.datetime | None = None


@dataclass
class _Tracker:
    timestamp: dt.datetime | None = None
    previous: dict[str, WallboxState] = field(default_factory=dict)
    sessions: dict[str, _OpenSession | None] = field(default_factory=dict)
    last_flush: dt.datetime | None = None
    last_retry: dict[str, dt.datetime] = field(default_factory=dict)
    # When the rows of pending boxes were last looked up (a setup may be due), and what they were.
    pending_checked: dt.datetime | None = None
    pending: dict[str, int] = field(default_factory=dict)  # box name: row id


_trackers: dict[int, _Tracker] = {}
_trackers_lock = threading.Lock()


def _open_session(plant_id: int, name: str) -> _OpenSession | None:
    found = ChargingSession.objects.filter(plant_id=plant_id, wallbox_name=name, ended__isnull=True).first()
    if found is None:
        return None
    return _OpenSession(session_id=found.pk, started=found.started)


def _flush(session: _OpenSession, ended: dt.datetime | None = None) -> None:
    update: dict[str, Any] = {
        "energy_wh": models.F("energy_wh") + session.energy_wh,
        "solar_wh": models.F("solar_wh") + session.solar_wh,
        "charging_s": models.F("charging_s") + session.charging_s,
    }
    if ended is not None:
        update["ended"] = ended
    ChargingSession.objects.filter(pk=session.session_id).update(**update)
    session.energy_wh = session.solar_wh = session.charging_s = 0.0


def _has_energy(session: _OpenSession) -> bool:
    return session.energy_wh > 0.0 or session.charging_s > 0.0


def vehicle_text(session: _OpenSession | None, state: WallboxState, time_zone: str) -> str:
    """The vehicle as the log can name it: the one plugged in at the session's start, with its phases."""
    phases = sum(1 for current in state.phase_currents_a if current > 1.0)
    drawn = f", drawing on {phases} phase{'s' if phases != 1 else ''}" if phases else ""
    if session is not None and session.started is not None:
        local = session.started.astimezone(zoneinfo.ZoneInfo(time_zone))
        return f"plugged in {local:%Y-%m-%d %H:%M}{drawn}"
    return f"vehicle{drawn}" if state.vehicle_connected else "no vehicle"


def record_cycle(plant_id: int, state: PlantState) -> None:
    """Keep charging sessions and the phase-switching log from the cycle's snapshots.

    Called by the cycle after each snapshot (in the worker's thread, not the device loop). The
    database is touched only when something happened: a session starts or ends, a phase switch,
    the energy of an open session (written at most every minute and when it ends), and the look
    for pending setups (at most every :data:`SETUP_RETRY_S`). A steady cycle makes no query. A
    pending setup is retried, as a job, once its box reports no vehicle.
    """
    if not state.wallboxes:
        return
    with _trackers_lock:
        tracker = _trackers.setdefault(plant_id, _Tracker())
    elapsed_s = (state.timestamp - tracker.timestamp).total_seconds() if tracker.timestamp else 0.0
    fraction = solar_fraction(state)
    flush_due = tracker.last_flush is None or (state.timestamp - tracker.last_flush).total_seconds() >= SESSION_FLUSH_S
    steps: list[tuple[WallboxState, BoxStep]] = []
    for current in state.wallboxes:
        if current.name not in tracker.sessions:
            tracker.sessions[current.name] = _open_session(plant_id, current.name)  # once per box and worker
        session = tracker.sessions[current.name]
        previous = tracker.previous.get(current.name)
        steps.append((current, box_step(previous, current, elapsed_s, fraction, session is not None)))
        tracker.previous[current.name] = current
    events = any(step.start_session or step.end_session or step.switched_to_phases for _, step in steps)
    rows: dict[str, Wallbox] = {}
    time_zone = "UTC"
    if events:
        rows = {box.name: box for box in Wallbox.objects.filter(plant_id=plant_id)}
        plant = plant_model()._default_manager.filter(pk=plant_id).first()
        time_zone = str(getattr(plant, "time_zone", "UTC"))
    flushing = flush_due and any(session is not None and _has_energy(session) for session in tracker.sessions.values())
    if events or flushing:
        with transaction.atomic():
            for current, step in steps:
                _apply_step(plant_id, tracker, current, step, rows, time_zone, flush_due, state.timestamp)
    else:
        for current, step in steps:
            session = tracker.sessions[current.name]
            if session is not None:
                session.energy_wh += step.energy_wh
                session.solar_wh += step.solar_wh
                session.charging_s += step.charging_s
    if flush_due:
        tracker.last_flush = state.timestamp
    tracker.timestamp = state.timestamp
    _retry_pending(plant_id, tracker, state)


def _apply_step(
    plant_id: int,
    tracker: _Tracker,
    current: WallboxState,
    step: BoxStep,
    rows: dict[str, Wallbox],
    time_zone: str,
    flush_due: bool,
    at: dt.datetime,
) -> None:
    session = tracker.sessions[current.name]
    row = rows.get(current.name)
    if step.end_session and session is not None:
        _flush(session, ended=at)
        tracker.sessions[current.name] = session = None
    if step.start_session:
        started = at
        row = row or Wallbox.objects.filter(plant_id=plant_id, name=current.name).first()
        created = ChargingSession.objects.create(
            plant_id=plant_id, wallbox=row, wallbox_name=current.name, started=started
        )
        tracker.sessions[current.name] = session = _OpenSession(created.pk, started=started)
    if session is not None:
        session.energy_wh += step.energy_wh
        session.solar_wh += step.solar_wh
        session.charging_s += step.charging_s
        if flush_due and _has_energy(session):
            _flush(session)
    if step.switched_to_phases is not None:
        PhaseSwitchEvent.objects.create(
            plant_id=plant_id,
            wallbox=row,
            wallbox_name=current.name,
            time=at,
            vehicle=vehicle_text(session, current, time_zone)[:100],
            phases=step.switched_to_phases,
        )


def _retry_pending(plant_id: int, tracker: _Tracker, state: PlantState) -> None:
    """Send a setup retry (a job) for a pending box the cycle sees online without a vehicle."""
    candidates = [
        box
        for box in state.wallboxes
        if box.status.online
        and not box.vehicle_connected
        and (
            (last := tracker.last_retry.get(box.name)) is None
            or (state.timestamp - last).total_seconds() >= SETUP_RETRY_S
        )
    ]
    if not candidates:
        return
    checked = tracker.pending_checked
    if checked is None or (state.timestamp - checked).total_seconds() >= SETUP_RETRY_S:
        tracker.pending = dict(
            Wallbox.objects.filter(plant_id=plant_id, setup=Wallbox.Setup.PENDING).values_list("name", "pk")
        )
        tracker.pending_checked = state.timestamp
    for box in candidates:
        wallbox_id = tracker.pending.get(box.name)
        if wallbox_id is None:
            continue
        tracker.last_retry[box.name] = state.timestamp
        tracker.pending.pop(box.name)
        tracker.pending_checked = None  # look again at the next chance: the job may have finished
        try:
            # A job on the default queue: the move's transactions wait for their turn on the
            # line; the cycle does not wait for them.
            jobs.submit("wallbox.retry_setup", {"wallbox_id": wallbox_id}, target=f"wallbox {wallbox_id}")
        except Exception:  # a failed retry must never stop the cycle's bookkeeping
            log.warning("sending the setup retry of wallbox %s failed", box.name, exc_info=True)


def forget_plant(plant_id: int) -> None:
    """Drop the in-memory records of a plant (its runtime closed in this worker); flushes energy."""
    with _trackers_lock:
        tracker = _trackers.pop(plant_id, None)
    for session in tracker.sessions.values() if tracker else ():
        if session is not None:
            _flush(session)


def phase_log_text(plant: Any) -> str:
    """``phase_switching_log.txt`` (WB-12): one line per switch, tab-separated, in the plant's time."""
    zone = zoneinfo.ZoneInfo(str(plant.time_zone))
    lines = ["time\tvehicle\tcharging device\tphase usage selected"]
    for event in PhaseSwitchEvent.objects.filter(plant=plant).order_by("time", "pk"):
        local = event.time.astimezone(zone)
        lines.append(f"{local:%Y-%m-%d %H:%M:%S %Z}\t{event.vehicle or '-'}\t{event.wallbox_name}\t{event.usage_text}")
    return "\n".join(lines) + "\n"
