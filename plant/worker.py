"""The worker's runtime cache: one ``PlantRuntime`` per plant, kept between cycles.

Lives in the Celery worker (and benchmarks); pages and the API never import it. Each cycle
runs in the process's device event loop; this module does the bookkeeping that needs the
database around it (settings, counters, the 5-minute log).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

import redisconn
from energy import counters as energy_counters
from energy import gridlimit
from energy.averaging import IntervalAverage, IntervalAverager
from energy.config import PlantConfig
from energy.counters import CounterState
from energy.state import EnergyCounters, PlantState
from events import services as event_services
from events.watch import CycleWatch
from meter import services as meter_services
from modbus import services as modbus_services
from plant import fastpass, fleet, live
from plant.config import load_config
from plant.cycle import PlantRuntime
from plant.models import Plant
from plant.runtime import device_loop
from redisconn import snapshots
from smartgrid import services as smartgrid_services
from wallbox import history as wallbox_history
from wallbox.registers import ERROR_TEXTS as WALLBOX_ERROR_TEXTS

log = logging.getLogger(__name__)

# Saved settings reach the next cycle through the plant's config generation in Redis (and the
# one of every plant: ``live.config_generation_key``); a worker that could not read them
# reloads its plants when Redis answers again. This reload only catches what no signal
# announced (a queryset update somebody adds without announcing it, a save whose announcement
# failed while this worker still reached Redis).
CONFIG_REFRESH_S = 60.0
# golden ratio: plant ids times it, modulo 1, spread evenly over [0, 1) (_plant_phase)
_PHASE = (5**0.5 - 1) / 2
RELOAD_RETRY_S = 5.0  # a reload the database refused is tried again this soon
# A cycle that has not finished by then is abandoned. Longer than the slowest possible device
# read (READ_DEADLINE_TIMEOUTS x MAX_TIMEOUT_S), so a slow meter ends as "no answer", not here.
CYCLE_TIMEOUT_S = 10.0
# A plant without a cycle for this long was deleted, switched off or moved to another worker:
# its runtime is closed, so no connection to its devices stays open here.
IDLE_EVICT_S = 60.0
# The guard passes only plants whose cycle ran here within this many cycle intervals: a plant
# deleted, switched off or moved to another worker keeps its runtime until it is closed (above),
# and the guard must not drive its devices meanwhile.
GUARD_STALE_CYCLES = 3.0
# A finished 5-minute interval is written within this much per plant the worker cycles, spread by
# plant id (at most WRITE_SPREAD_MAX_S): every plant's interval ends at the same moment, and 150
# plants writing theirs in the same second (a handful of queries each, on the worker's one
# interpreter) held up every cycle of that second. Below a second of spread (up to 4 plants) the
# interval is written at once.
WRITE_SPREAD_PER_PLANT_S = 0.2
WRITE_SPREAD_MAX_S = 60.0


@dataclass
class _Entry:
    runtime: PlantRuntime
    config_loaded_at: float
    averager: IntervalAverager = field(default_factory=IntervalAverager)
    last_used: float = field(default_factory=time.monotonic)
    # the config generations (every plant's, this plant's) the settings were loaded under; None
    # while Redis did not answer
    generation: tuple[bytes | None, bytes | None] | None = None
    command_raw: bytes | None = None  # the stored Modbus wallbox command last taken
    watch: CycleWatch | None = None  # what of the snapshots is an event (events/)
    # a finished 5-minute interval, the totals at its end, and the cycle time from which it is written
    unwritten: tuple[IntervalAverage, EnergyCounters, dt.datetime] | None = None


_runtimes: dict[int, _Entry] = {}
_runtimes_lock = threading.Lock()
_UNKNOWN = object()


def _fresh_inputs(plant_id: int) -> tuple[Any, Any]:
    """(config generations, of every plant and of this one; stored Modbus wallbox command) in
    one Redis round trip; both ``_UNKNOWN`` while Redis does not answer (the command's own
    expiry then holds, and the settings are reloaded once Redis answers again)."""
    try:
        every, own, command = redisconn.sync_redis().mget(
            live.config_generation_key(),
            live.config_generation_key(plant_id),
            modbus_services.wallbox_command_key(plant_id),
        )
    except redis.RedisError:
        return _UNKNOWN, _UNKNOWN
    return (every, own), command


def _entry_for(plant_id: int, generation: Any = _UNKNOWN, at: dt.datetime | None = None) -> _Entry:
    """The plant's runtime here, built on first use, its settings reloaded when announced or due.

    A reload happens outside the table's lock: it waits for the device loop, and while it held
    the lock every other plant's cycle waited too (with 150 plants on one worker the backstop's
    reloads alone held up whole seconds). One plant's cycles never run side by side (its cycle
    lock), so its reload needs no lock. Idle plants are still closed under it (rare), so a plant
    coming back at that moment waits for its old runtime to be gone."""
    with _runtimes_lock:
        now = time.monotonic()
        for idle_id in [pk for pk, e in _runtimes.items() if pk != plant_id and now - e.last_used > IDLE_EVICT_S]:
            _close(idle_id, _runtimes.pop(idle_id))
        entry = _runtimes.get(plant_id)
        announced = generation is not _UNKNOWN and entry is not None and generation != entry.generation
        reload = False
        if entry is None:
            entry = _Entry(_new_runtime(load_config(plant_id)), time.monotonic() - _backstop_phase_s(plant_id))
            # The 5-minute interval the plant's previous worker was averaging (plant.fleet).
            entry.averager = fleet.take_interval(plant_id, timezone.now() if at is None else at)
            _runtimes[plant_id] = entry
        else:
            reload = announced or now - entry.config_loaded_at > CONFIG_REFRESH_S
        # Redis down: whatever was saved meanwhile went unannounced, so the first generation
        # read after the outage differs from this one and reloads.
        entry.generation = None if generation is _UNKNOWN else generation
        entry.last_used = now
    if reload:
        _reload(plant_id, entry)
    return entry


def _reload(plant_id: int, entry: _Entry) -> None:
    try:
        config = load_config(plant_id)
        # In the device loop: a rebuilt driver's Modbus client belongs to that loop. After a guard
        # pass still on the devices (fastpass.exclusive), never under it: it would lose its meter.
        device_loop().run(
            fastpass.exclusive(entry.runtime, _reconfigure(entry.runtime, config)), timeout_s=CYCLE_TIMEOUT_S
        )
    except DatabaseError as exc:  # the cycle goes on with the settings it has
        log.warning("plant %s: settings not reloaded, the database does not answer: %s", plant_id, exc)
        # Tried again within RELOAD_RETRY_S (the backstop's clock set back), not only at
        # the next announcement: what was announced now must not wait for the backstop.
        entry.config_loaded_at = time.monotonic() - CONFIG_REFRESH_S + RELOAD_RETRY_S
    else:
        entry.config_loaded_at = time.monotonic()


def _backstop_phase_s(plant_id: int) -> float:
    """How much earlier than the full period a plant's first backstop reload comes (0 to half of
    ``CONFIG_REFRESH_S``, by plant id): the plants a worker took at once (its start, a fleet
    rebalance) must not all reload in the same second every minute. With 120 plants on one worker
    that second stalled every cycle behind 120 settings loads."""
    return CONFIG_REFRESH_S / 2 * _plant_phase(plant_id)


def _plant_phase(plant_id: int) -> float:
    """A plant's place in [0, 1) for spreading a worker's periodic work over time: any run of
    plant ids falls evenly (the golden ratio's multiples modulo 1)."""
    return (plant_id * _PHASE) % 1.0


def _take_command(entry: _Entry, raw: Any) -> None:
    """Hand the stored Modbus wallbox command (MB-2) to the plant's control."""
    if raw is _UNKNOWN or raw == entry.command_raw:
        return
    entry.command_raw = raw
    entry.runtime.set_wallbox_command(modbus_services.wallbox_command_from(raw))


def _new_runtime(config: PlantConfig) -> PlantRuntime:
    counters = _caught_up(config.plant_id, meter_services.load_counters(config.plant_id))
    return device_loop().run(_build_runtime(config, counters), timeout_s=CYCLE_TIMEOUT_S)


def _caught_up(plant_id: int, stored: CounterState) -> CounterState:
    """The stored counters, raised to the totals of the plant's last snapshot where that is
    ahead (the worker before was killed, or handed the plant on, between two saves): totals never
    go backwards, not even while the meter does not answer the new runtime yet."""
    try:
        latest = snapshots.read_state(plant_id)
    except redis.RedisError:
        return stored
    if latest is None:
        return stored
    named = energy_counters.named_counters(latest.totals, latest.phase_totals)
    return energy_counters.caught_up(stored, named, latest.timestamp)


async def _reconfigure(runtime: PlantRuntime, config: PlantConfig) -> None:
    runtime.reconfigure(config)


async def _build_runtime(config: PlantConfig, counters: CounterState) -> PlantRuntime:
    # The publisher's Redis client must be created inside the loop that will use it.
    return PlantRuntime(config, counters, live.RedisPublisher())


def run_plant_cycle(plant_id: int, now: dt.datetime | None = None, inputs: tuple[Any, Any] | None = None) -> PlantState:
    """One cycle of one plant, then the bookkeeping that needs the database. ``inputs``: the
    config generations and the Modbus wallbox command, when the caller read them already (the
    task, with its lease and lock, in one round trip)."""
    generation, command = inputs if inputs is not None else _fresh_inputs(plant_id)
    now = now or timezone.now()
    entry = _entry_for(plant_id, generation, now)
    _take_command(entry, command)
    had_counters = bool(entry.runtime.counter_state.last_raw)
    cycle = entry.runtime.cycle(now)
    result = device_loop().run(fastpass.exclusive(entry.runtime, cycle), timeout_s=CYCLE_TIMEOUT_S)
    _settle_grid_limits(plant_id, entry.runtime.config, now)
    finished = entry.averager.add(result.state)
    if finished is not None:
        _write_interval(plant_id, entry)  # one still unwritten (its cycles came late) first
        entry.unwritten = (finished, result.state.totals, result.state.timestamp + _write_delay(plant_id))
    written = entry.unwritten is not None and result.state.timestamp >= entry.unwritten[2]
    if written:
        _write_interval(plant_id, entry)
    if written or result.counters_rebased or (result.counters.last_raw and not had_counters):
        meter_services.save_counters(plant_id, result.counters)
    if result.state.wallboxes:
        try:
            # Charging sessions and the phase-switching log (WB-3, WB-12).
            wallbox_history.record_cycle(plant_id, result.state)
        except Exception:  # bookkeeping must never stop the control cycle
            log.exception("recording the wallboxes of plant %s", plant_id)
    _record_events(plant_id, entry, result.state)
    return result.state


def _write_delay(plant_id: int) -> dt.timedelta:
    """How long after its end a plant's finished interval is written: spread by plant id over
    ``WRITE_SPREAD_PER_PLANT_S`` per plant this worker cycles; none below a second of spread."""
    spread_s = min(WRITE_SPREAD_MAX_S, WRITE_SPREAD_PER_PLANT_S * len(_runtimes))
    if spread_s < 1.0:
        return dt.timedelta(0)
    return dt.timedelta(seconds=spread_s * _plant_phase(plant_id))


def _write_interval(plant_id: int, entry: _Entry) -> None:
    """Write the plant's finished interval, if one waits."""
    if entry.unwritten is not None:
        interval, totals, _due = entry.unwritten
        entry.unwritten = None
        meter_services.save_interval(plant_id, interval, totals)


def _record_events(plant_id: int, entry: _Entry, state: PlantState) -> None:
    """Device outages and returns, wallbox error codes, curtailment: compared in memory each
    cycle, written only when one begins or ends (DEV-3)."""
    try:
        if entry.watch is None:
            watch = CycleWatch(plant_id, WALLBOX_ERROR_TEXTS)
            # Outages still open in the log (another worker or an earlier run saw them begin).
            watch.resume(event_services.open_outages(plant_id))
            entry.watch = watch
        for found in entry.watch.see(state):
            event_services.record(
                found.kind,
                found.message,
                params=dict(found.params),
                plant=plant_id,
                severity=found.severity,
                source=found.source,
                key=found.key,
                at=state.timestamp,
            )
    except Exception:  # bookkeeping must never stop the control cycle
        log.exception("recording the events of plant %s", plant_id)


def _settle_grid_limits(plant_id: int, config: PlantConfig, now: dt.datetime) -> None:
    """A timer of the grid operator's limits fired (a limit ended, the heartbeat is lost): store
    it with its history entry; the save announces the new facts to the next cycle."""
    facts = config.grid_limit_facts
    if facts is None or not gridlimit.advance(facts, now)[1]:
        return
    try:
        smartgrid_services.settle(plant_id, now)
    except Exception:  # bookkeeping must never stop the control cycle
        log.exception("recording the grid operator's limits of plant %s", plant_id)


_guard_thread: threading.Thread | None = None
_guard_stop = threading.Event()


def start_guard() -> None:
    """Start this process's sub-second guard (:mod:`plant.fastpass`) once, unless switched off.

    The Celery worker starts it when it is ready; tests and benchmarks that run cycles
    themselves run without it."""
    global _guard_thread
    period_s = fastpass.period_from_env()
    if _guard_thread is not None or period_s <= 0:
        return
    _guard_thread = threading.Thread(target=_guard_loop, args=(period_s,), name="plant-guard", daemon=True)
    _guard_thread.start()


def _guard_loop(period_s: float) -> None:
    """A guard pass of every plant this process cycles, every ``period_s``; the 1 s cycle of a
    plant and its guard pass take turns on the plant's devices."""
    next_s = time.monotonic()
    stale_s = GUARD_STALE_CYCLES * settings.CYCLE_INTERVAL_S
    while not _guard_stop.is_set():
        next_s += period_s
        with _runtimes_lock:
            now = time.monotonic()
            plant_ids = [pk for pk, entry in _runtimes.items() if now - entry.last_used <= stale_s]
        for plant_id in plant_ids:
            try:
                guard_pass(plant_id, period_s)
            except Exception:  # the guard must never stop; the 1 s cycle still runs
                log.exception("guard pass of plant %s", plant_id)
        _guard_stop.wait(max(0.0, next_s - time.monotonic()))
        next_s = max(next_s, time.monotonic() - period_s)


def _close(plant_id: int, entry: _Entry) -> None:
    """Persist the plant's counters, leave the 5-minute interval in progress to the plant's next
    owner, and close its device connections."""
    if Plant.objects.filter(pk=plant_id).exists():
        try:
            _write_interval(plant_id, entry)
        except Exception:
            log.exception("writing the last 5-minute interval of plant %s", plant_id)
        if entry.runtime.counter_state.last_raw:
            meter_services.save_counters(plant_id, entry.runtime.counter_state)
    fleet.park_interval(plant_id, entry.averager)
    try:
        wallbox_history.forget_plant(plant_id)
    except Exception:
        log.exception("closing the charging sessions of plant %s", plant_id)
    try:
        # After a cycle or guard pass still on the devices (fastpass.exclusive), never during one.
        device_loop().run(fastpass.exclusive(entry.runtime, entry.runtime.close()), timeout_s=CYCLE_TIMEOUT_S)
    except Exception:
        log.exception("closing plant %s", plant_id)


def drop_runtime(plant_id: int) -> None:
    """Close the plant's runtime here (another worker drives it now: plant.fleet); returns once
    its device connections are closed."""
    with _runtimes_lock:
        entry = _runtimes.pop(plant_id, None)
    if entry is not None:
        _close(plant_id, entry)


def shutdown_runtimes() -> None:
    """Close every plant's runtime (worker shutdown); the guard stops first."""
    _guard_stop.set()
    if _guard_thread is not None:
        _guard_thread.join(timeout=CYCLE_TIMEOUT_S)
    with _runtimes_lock:
        for plant_id, entry in list(_runtimes.items()):
            _close(plant_id, entry)
        _runtimes.clear()


def guard_pass(plant_id: int, period_s: float) -> None:
    """One guard pass of a plant this process cycles, as the guard thread runs it (benchmarks)."""
    with _runtimes_lock:
        entry = _runtimes.get(plant_id)
    if entry is not None:
        runtime = entry.runtime
        device_loop().run(
            fastpass.exclusive(runtime, fastpass.guard_pass(runtime, timezone.now(), period_s)),
            timeout_s=CYCLE_TIMEOUT_S,
        )


def running_plant_ids() -> list[int]:
    """Plants whose runtime (device connections) this process holds."""
    with _runtimes_lock:
        return sorted(_runtimes)
