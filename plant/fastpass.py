"""The sub-second guard pass (MET-3 allows internal cycles of 200 or 500 ms).

Between two 1 s cycles of a :class:`~plant.cycle.PlantRuntime`, :func:`guard_pass` reads the
meter's instantaneous values, and the wallboxes and inverters only when a guard can act on them
(a released box; feed-in over its limit or a lead held), runs only the guard controllers
(:data:`plant.guard.GUARD_CONTROLLERS`) on the controllers' own memory and writes only what
they lower below the values in force, with a lead on the inverters (see :mod:`plant.guard`).
It publishes nothing, counts no energy and keeps no log: the snapshot, the counters and the
logs stay with the 1 s cycle.

A pass and a cycle of the same plant never overlap: both take the runtime's lock
(:func:`exclusive`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from energy import counters
from energy.config import ACTIVE_POWER_LIMIT_PCT, GRID_POSITION, KOSTAL_MAP_TYPES
from energy.control import ControlLoop
from energy.devices import WallboxReading
from energy.flow import compute_flow
from energy.state import PlantState
from inverters.control import _absorbable_w, margin_w
from plant import guard
from plant.cycle import PlantRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")

# The guard's period; 0 switches the guard pass off (the 1 s cycle alone, as before).
PERIOD_ENV = "KSEM_GUARD_PERIOD_S"
DEFAULT_PERIOD_S = 0.2
ALLOWED_PERIODS_S = (0.0, 0.2, 0.5)
# The controllers that bound the inverters' output (their memory is about the inverters).
OUTPUT_CONTROLLERS = frozenset({"feed_in_limitation", "grid_operator_limits"})

_locks: WeakKeyDictionary[PlantRuntime, asyncio.Lock] = WeakKeyDictionary()


def period_from_env(environ: Any = None) -> float:
    """The guard period from ``KSEM_GUARD_PERIOD_S``: 0.2 or 0.5 (the meter's internal cycles),
    0 for off; anything else is refused with a warning and the default holds."""
    raw = (environ if environ is not None else os.environ).get(PERIOD_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_PERIOD_S
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; the guard runs every %g s", PERIOD_ENV, raw, DEFAULT_PERIOD_S)
        return DEFAULT_PERIOD_S
    if value not in ALLOWED_PERIODS_S:
        log.warning("%s=%r is not one of 0, 0.2, 0.5; the guard runs every %g s", PERIOD_ENV, raw, DEFAULT_PERIOD_S)
        return DEFAULT_PERIOD_S
    return value


def _lock(runtime: PlantRuntime) -> asyncio.Lock:
    lock = _locks.get(runtime)
    if lock is None:
        lock = _locks[runtime] = asyncio.Lock()
    return lock


async def exclusive(runtime: PlantRuntime, work: Coroutine[Any, Any, T]) -> T:
    """``work`` (a cycle or a guard pass of ``runtime``) alone on the plant's devices."""
    async with _lock(runtime):
        return await work


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one guard pass saw and did (the replay's guard trace shows it)."""

    feed_in_w: float | None
    aim_w: float | None
    lead_w: float
    written: dict[str, float]  # "device/quantity" -> value written


async def guard_pass(runtime: PlantRuntime, now: dt.datetime, hold_s: float) -> PassResult:
    """One guard pass; ``hold_s`` is how long until the next (the lead is sized for it)."""
    config = runtime.config
    controllers = [c for c in runtime.control.controllers if c.name in guard.GUARD_CONTROLLERS]
    # Nothing to guard before the first cycle, nor where a pass could lower nothing (no inverter,
    # whose limit may be capped from 100 %, and no setpoint in force, e.g. a meter-only plant).
    if runtime.sequence == 0 or not controllers or not (runtime.inverters or runtime.in_force):
        return PassResult(None, None, 0.0, {})

    # Read only what a guard can act on this pass: the meter always; a wallbox only while it is
    # released (only then can it draw the current a fuse guard lowers), and then just its live
    # values; the inverters only while feed-in is over its limit or a lead is held (only then
    # can the pass lower their limit). What is not read comes from the last cycle.
    names = list(runtime.inverters)
    boxes = [name for name in runtime.wallboxes if _may_draw(runtime.box_readings.get(name))]
    box_reads = asyncio.gather(*(runtime._read_wallbox_live(name, now) for name in boxes))
    sample = await runtime._read_meter(now, live=True)
    reading = sample.reading if sample else None
    feed_in_w = -reading.active_power_w if reading is not None else None
    limit_w = _output_limit_w(config)
    read_inverters = bool(runtime.lead) or (feed_in_w is not None and limit_w is not None and feed_in_w > limit_w)
    if read_inverters:
        inverter_reads = await asyncio.gather(*(runtime._read_inverter(name, now) for name in names))
        runtime.inverter_readings = dict(zip(names, inverter_reads, strict=True))
    box_readings = dict(zip(boxes, await box_reads, strict=True))
    runtime.box_readings = {**runtime.box_readings, **box_readings}
    inverters = tuple(runtime._inverter_state(n, runtime.inverter_readings.get(n)) for n in names)
    wallboxes = tuple(runtime._wallbox_state(n, runtime.box_readings.get(n), now) for n in runtime.wallboxes)
    state = PlantState(
        plant_id=config.plant_id,
        timestamp=now,
        sequence=runtime.sequence,
        meter=reading,
        meter_status=runtime.meter_status.status,
        flow=compute_flow(config.installation_position, reading, runtime._flow_summary(sample, inverters, wallboxes)),
        totals=counters.totals_of(runtime.counter_state),
        inverters=inverters,
        wallboxes=wallboxes,
        feed_in_limit_w=config.feed_in_limit.limit_w if config.feed_in_limit.enabled else None,
        wallbox_command=config.wallbox_command if config.wallboxes else None,
    )

    loop = ControlLoop(controllers)
    loop.memory = dict(runtime.control.memory)
    outcome = loop.run(state, config, now)
    # Only a device read in this pass may be lowered by it.
    fresh = {*(names if read_inverters else ()), *boxes}
    proposed = {(s.device, s.quantity): s.value for s in outcome.setpoints if s.device in fresh}

    aim_w = _aim_w(state, config)
    lead = 0.0
    if feed_in_w is not None and aim_w is not None:
        lead = guard.lead_w(feed_in_w - aim_w - _absorbable_w(state, config), hold_s)
    plain = {dev: value for (dev, quantity), value in proposed.items() if quantity == ACTIVE_POWER_LIMIT_PCT}
    if lead > 0 and plain:
        max_ac = {inv.name: inv.max_ac_w for inv in inverters}
        whole = frozenset(inv.name for inv in inverters if inv.type in KOSTAL_MAP_TYPES)
        led = guard.lead_pcts(plain, max_ac, lead, whole)
        proposed.update({(dev, ACTIVE_POWER_LIMIT_PCT): pct for dev, pct in led.items()})
    changes = guard.lowered(runtime.in_force, proposed)
    if runtime.lead:
        # The previous lead ends now: the plain limit (or this pass's smaller lead) comes back.
        for key in runtime.lead:
            if key in proposed and key not in changes:
                changes[key] = proposed[key]
    runtime.lead = {key: value for key, value in changes.items() if key[1] == ACTIVE_POWER_LIMIT_PCT} if lead else {}
    runtime.lead_until = now + dt.timedelta(seconds=1.5 * hold_s) if lead else None
    if not changes:
        return PassResult(feed_in_w, aim_w, lead, {})

    # Only a pass that acts keeps what the guard controllers remembered; the others are as if
    # the pass had not run, so the 1 s cycle sees the same memory as without the guard.
    for controller in controllers:
        if controller.name in OUTPUT_CONTROLLERS and not read_inverters:
            continue  # it saw the last cycle's inverters: its memory stays the cycle's
        if controller.name in outcome.memory:
            runtime.control.memory[controller.name] = outcome.memory[controller.name]
    sources = {(s.device, s.quantity): s.source for s in outcome.setpoints}
    writes = guard.device_writes(runtime.in_force, changes, "guard", sources)
    targets: dict[str, Any] = {**runtime.inverters, **runtime.wallboxes}
    await asyncio.gather(*(runtime._write(targets[dev], sps, now) for dev, sps in writes.items() if dev in targets))
    runtime.in_force = guard.merged(runtime.in_force, writes)
    return PassResult(feed_in_w, aim_w, lead, {f"{dev}/{q}": v for (dev, q), v in sorted(changes.items())})


def _may_draw(reading: WallboxReading | None) -> bool:
    """Whether a box as last read can draw current (a fuse guard may have to lower it)."""
    return reading is not None and (reading.released or reading.charging)


def _output_limit_w(config: Any) -> float | None:
    """The feed-in limit in force (the tighter of the plant's and the grid operator's LPP), or
    ``None`` when no such limit is in force."""
    if config.installation_position != GRID_POSITION:
        return None
    limits = [config.grid_limits.lpp_w] if config.grid_limits.lpp_w is not None else []
    if config.feed_in_limit.enabled:
        limits.append(config.feed_in_limit.limit_w)
    return float(min(limits)) if limits else None


def _aim_w(state: PlantState, config: Any) -> float | None:
    """The feed-in the output bound aims at (the feed-in limit in force less the margin), or
    ``None`` when no such limit is in force."""
    limit_w = _output_limit_w(config)
    return None if limit_w is None else float(limit_w - margin_w(limit_w))
