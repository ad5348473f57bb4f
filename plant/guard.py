"""The fast guard's pure rules: what a sub-second guard pass may write, and the lead it gives
inverters that settle slowly.

Between two 1 s cycles the guard pass (:mod:`plant.fastpass`) reads the meter and the devices it can act on,
runs only the guard controllers (grid operator's limits, main fuse and unbalance on the
wallboxes, feed-in limitation) and writes only what they *lower*: an inverter's power limit or
a wallbox's charging current below what is in force. Raising (a release, a ramp, the wallbox
modes) stays with the 1 s cycle, so a guard pass can never start an oscillation.

The lead
--------
An inverter does not jump to a lowered limit; it settles toward it. KOSTAL tells installers to
set the inverters' settling time to 1 s for control by the meter; the product models that as a
first-order response with time constant ``settling_s / 3`` (95 % of the way after
``settling_s``). Commanded exactly the limit, 5 kW of excess take about 1.4 s to fall under
50 W. So on a real excess the guard commands a *lead*: the limit minus ``k`` times the excess,
with ``k`` chosen so that the modelled output reaches the limit when the next guard pass comes
(``hold_s`` later). That pass sees no excess and writes the plain limit back; if the inverter
settled more slowly than modelled, it sees what is left and leads by that, less than before.
Either way the setpoint goes down once and comes back up once: no oscillation.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

from energy.config import ACTIVE_POWER_LIMIT_PCT, CHARGING_CURRENT_A
from energy.state import Setpoint

# The controllers a guard pass runs (by name); the others run only in the 1 s cycle.
GUARD_CONTROLLERS = frozenset({"grid_operator_limits", "wallbox_guards", "feed_in_limitation"})
# The settling time KOSTAL's manual has installers set in the inverters for external control.
SETTLING_S = 1.0
# Below this excess over the aim a guard pass gives no lead (noise, a few watts of quantisation).
LEAD_THRESHOLD_W = 200.0
# The quantities a guard pass may lower, and by less than how much it leaves them (noise,
# not worth a write).
LOWER_DEADBAND = {ACTIVE_POWER_LIMIT_PCT: 0.5, CHARGING_CURRENT_A: 0.1}
# What a guarded quantity is when nothing is in force for it. An inverter handed no power limit
# runs free (its driver releases the limit): 100 %. A charging current nobody set is unknown (the
# box keeps what it last had), so that one stays with the cycle.
RELEASED = {ACTIVE_POWER_LIMIT_PCT: 100.0}
EPSILON = 1e-6

Key = tuple[str, str]


def lead_gain(hold_s: float, settling_s: float = SETTLING_S) -> float:
    """``k`` such that a first-order inverter commanded ``limit - k * excess`` is at the limit
    ``hold_s`` later (time constant ``settling_s / 3``)."""
    if hold_s <= 0 or settling_s <= 0:
        return 0.0
    decay = math.exp(-3.0 * hold_s / settling_s)
    return decay / (1.0 - decay)


def lead_w(excess_w: float, hold_s: float, settling_s: float = SETTLING_S) -> float:
    """How far below the plain limit to command, for ``excess_w`` of feed-in over the aim."""
    if excess_w <= LEAD_THRESHOLD_W:
        return 0.0
    return lead_gain(hold_s, settling_s) * excess_w


def lead_pcts(
    plain_pcts: Mapping[str, float], max_ac_w: Mapping[str, float], lead: float, whole: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Each inverter's plain limit lowered by the same share of its maximum, so that together
    they deliver ``lead`` watts less; inverters in ``whole`` take whole percent (rounded down)."""
    total_w = sum(max_ac_w[name] for name in plain_pcts)
    if lead <= 0 or total_w <= 0:
        return dict(plain_pcts)
    cut_pct = 100.0 * lead / total_w
    pcts: dict[str, float] = {}
    for name, pct in plain_pcts.items():
        lowered = max(0.0, pct - cut_pct)
        pcts[name] = float(math.floor(lowered + 1e-9)) if name in whole else math.floor(lowered * 100.0) / 100.0
    return pcts


def in_force_values(setpoints: Sequence[Setpoint]) -> dict[Key, float]:
    return {(s.device, s.quantity): s.value for s in setpoints}


def held_value(current: Mapping[Key, float], key: Key) -> float | None:
    """What ``key`` holds now: the value in force, an inverter's released limit as 100 %, or
    ``None`` when that is unknown."""
    return current.get(key, RELEASED.get(key[1]))


def lowered(in_force: Sequence[Setpoint], proposed: Mapping[Key, float]) -> dict[Key, float]:
    """The proposed values that lower a guarded quantity below what it holds now.

    An inverter running free (no limit in force) holds 100 %, so a feed-in guard can cap it the
    moment a load drops; a charging current nobody set is left to the cycle.
    """
    current = in_force_values(in_force)
    changes: dict[Key, float] = {}
    for key, value in proposed.items():
        deadband = LOWER_DEADBAND.get(key[1])
        held = held_value(current, key)
        if deadband is not None and held is not None and value < held - deadband:
            changes[key] = value
    return changes


def device_writes(
    in_force: Sequence[Setpoint], changes: Mapping[Key, float], reason: str, sources: Mapping[Key, str] | None = None
) -> dict[str, list[Setpoint]]:
    """Per device the full list of its setpoints in force with ``changes`` applied (a driver
    releases a quantity it is not handed, so the others must be handed again unchanged); a
    change to a quantity not in force is added, with its source from ``sources``."""
    devices = {device for device, _ in changes}
    writes: dict[str, list[Setpoint]] = {}
    for device in sorted(devices):
        mine: list[Setpoint] = []
        for s in in_force:
            if s.device != device:
                continue
            value = changes.get((s.device, s.quantity))
            mine.append(s if value is None else dataclasses.replace(s, value=value, reason=reason))
        held = {s.quantity for s in mine}
        for (dev, quantity), value in sorted(changes.items()):
            if dev == device and quantity not in held:
                source = (sources or {}).get((dev, quantity), "")
                mine.append(Setpoint(device=dev, quantity=quantity, value=value, reason=reason, source=source))
        writes[device] = mine
    return writes


def merged(in_force: Sequence[Setpoint], writes: Mapping[str, Sequence[Setpoint]]) -> tuple[Setpoint, ...]:
    """What is in force after ``writes``: each written value in place of the one before, the
    quantities that were not in force before at the end."""
    updated = {(s.device, s.quantity): s for sps in writes.values() for s in sps}
    kept = tuple(updated.pop((s.device, s.quantity), s) for s in in_force)
    return kept + tuple(updated.values())


def with_lead(setpoints: Sequence[Setpoint], lead: Mapping[Key, float]) -> tuple[Setpoint, ...]:
    """The cycle's setpoints with a lead still in force kept (never above the cycle's own)."""
    if not lead:
        return tuple(setpoints)
    out: list[Setpoint] = []
    for s in setpoints:
        value = lead.get((s.device, s.quantity))
        if value is not None and value < s.value:
            s = dataclasses.replace(s, value=value, reason=f"{s.reason} (lead while the inverter settles)")
        out.append(s)
    return tuple(out)


def reversals(values: Sequence[float], deadband: float = EPSILON) -> int:
    """How often a series changes direction (a setpoint that oscillates reverses again and again)."""
    count, direction = 0, 0
    for before, after in itertools.pairwise(values):
        delta = after - before
        if abs(delta) <= deadband:
            continue
        sign = 1 if delta > 0 else -1
        if direction and sign != direction:
            count += 1
        direction = sign
    return count
