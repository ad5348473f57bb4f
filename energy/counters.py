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

from energy.state import EnergyCounters

# Far above any home or small business connection: a counter moving faster is not energy.
MAX_PLAUSIBLE_POWER_W = 2_000_000.0
SLACK_WH = 10.0
FIELDS = tuple(f.name for f in dataclasses.fields(EnergyCounters))
PHASES = ("l1", "l2", "l3")
PhaseCounters = tuple[EnergyCounters, EnergyCounters, EnergyCounters]


def named_counters(energy: EnergyCounters, phase_energy: PhaseCounters) -> dict[str, float]:
    """Every counter of a meter by one name: ``active_import_wh`` for totals, ``l1.active_import_wh`` per phase."""
    values = energy.as_dict()
    for phase, counters in zip(PHASES, phase_energy, strict=True):
        values.update({f"{phase}.{name}": value for name, value in counters.as_dict().items()})
    return values


@dataclass(frozen=True)
class CounterState:
    offsets: dict[str, float] = field(default_factory=dict)
    last_raw: dict[str, float] = field(default_factory=dict)
    last_raw_at: dt.datetime | None = None


@dataclass(frozen=True)
class CounterUpdate:
    state: CounterState
    totals: EnergyCounters
    phase_totals: PhaseCounters
    rebased: tuple[str, ...]  # counters whose offset moved: persist at once


def _total(state: CounterState, name: str) -> float:
    return state.offsets.get(name, 0.0) + state.last_raw.get(name, 0.0)


def totals_of(state: CounterState) -> EnergyCounters:
    return EnergyCounters(**{name: _total(state, name) for name in FIELDS})


def phase_totals_of(state: CounterState) -> PhaseCounters:
    l1, l2, l3 = (EnergyCounters(**{name: _total(state, f"{phase}.{name}") for name in FIELDS}) for phase in PHASES)
    return (l1, l2, l3)


def caught_up(state: CounterState, totals: dict[str, float], at: dt.datetime) -> CounterState:
    """The stored state raised to totals published after it was saved (``totals`` by the names of
    ``named_counters``, as of ``at``): a worker killed between two saves, or a plant moved to
    another worker, leaves the store behind what its last snapshot showed. Each counter behind
    gets the raw reading those totals imply, so totals continue from there even before the meter
    answers again, and its next reading counts from there. Counters never read stay unknown."""
    if state.last_raw_at is not None and at <= state.last_raw_at:
        return state
    last_raw = dict(state.last_raw)
    moved = False
    for name, total in totals.items():
        if name in last_raw and total > _total(state, name):
            last_raw[name] = total - state.offsets.get(name, 0.0)
            moved = True
    return CounterState(offsets=dict(state.offsets), last_raw=last_raw, last_raw_at=at) if moved else state


def advance(state: CounterState, raw: dict[str, float], now: dt.datetime) -> CounterUpdate:
    """Take the meter's counters (by name, see ``named_counters``) read at ``now``."""
    elapsed_s = (now - state.last_raw_at).total_seconds() if state.last_raw_at else None
    max_step_wh = MAX_PLAUSIBLE_POWER_W * max(elapsed_s or 0.0, 0.0) / 3600.0 + SLACK_WH
    offsets = dict(state.offsets)
    rebased: list[str] = []
    for name, value in raw.items():
        if name not in state.last_raw:
            offsets[name] = -value
            continue
        step = value - state.last_raw[name]
        if step < 0 or step > max_step_wh:
            offsets[name] = offsets.get(name, 0.0) + state.last_raw[name] - value
            rebased.append(name)
    new_state = CounterState(offsets=offsets, last_raw=dict(raw), last_raw_at=now)
    return CounterUpdate(new_state, totals_of(new_state), phase_totals_of(new_state), tuple(rebased))
