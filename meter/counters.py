"""Energy totals since commissioning that never decrease (MET-1). Pure: no database, no clock.

total = offset + raw meter counter. The first reading sets the offset to -raw, so totals start
at zero at commissioning. When the meter's counter goes backwards (meter reset or replaced) or
jumps further than any plausible power could move it (a garbage answer), the offset is rebased
so the total continues where it was instead of falling or leaping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from plant.state import EnergyCounters

# Far above any home or small business connection: a counter moving faster is not energy.
MAX_PLAUSIBLE_POWER_W = 2_000_000.0
SLACK_WH = 10.0
FIELDS = tuple(f.name for f in dataclasses.fields(EnergyCounters))


@dataclass(frozen=True)
class CounterState:
    offsets: dict[str, float] = field(default_factory=dict)
    last_raw: dict[str, float] = field(default_factory=dict)
    last_raw_at: dt.datetime | None = None


@dataclass(frozen=True)
class CounterUpdate:
    state: CounterState
    totals: EnergyCounters
    rebased: tuple[str, ...]  # counters whose offset moved: persist at once


def totals_of(state: CounterState) -> EnergyCounters:
    return EnergyCounters(**{name: state.offsets.get(name, 0.0) + state.last_raw.get(name, 0.0) for name in FIELDS})


def advance(state: CounterState, raw: EnergyCounters, now: dt.datetime) -> CounterUpdate:
    elapsed_s = (now - state.last_raw_at).total_seconds() if state.last_raw_at else None
    max_step_wh = MAX_PLAUSIBLE_POWER_W * max(elapsed_s or 0.0, 0.0) / 3600.0 + SLACK_WH
    offsets = dict(state.offsets)
    rebased: list[str] = []
    raw_values = dataclasses.asdict(raw)
    for name in FIELDS:
        value = raw_values[name]
        if name not in state.last_raw:
            offsets[name] = -value
            continue
        step = value - state.last_raw[name]
        if step < 0 or step > max_step_wh:
            offsets[name] = offsets.get(name, 0.0) + state.last_raw[name] - value
            rebased.append(name)
    new_state = CounterState(offsets=offsets, last_raw=raw_values, last_raw_at=now)
    return CounterUpdate(state=new_state, totals=totals_of(new_state), rebased=tuple(rebased))
