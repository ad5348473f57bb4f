"""5-minute averages of the live snapshots (MET-5). Pure: fed one snapshot at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from energy.state import ZERO_PHASE, EnergyCounters, MeterReading, PlantState

INTERVAL = dt.timedelta(minutes=5)
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def meter_values(reading: MeterReading) -> dict[str, float]:
    """The log fields a meter sample contributes."""
    values = {
        "grid_power_w": reading.active_power_w,
        "reactive_power_var": reading.reactive_power_var,
        "apparent_power_va": reading.apparent_power_va,
        "frequency_hz": reading.frequency_hz,
    }
    for n, phase in enumerate(reading.phases, start=1):
        values[f"power_l{n}_w"] = phase.active_power_w
        values[f"voltage_l{n}_v"] = phase.voltage_v
        values[f"current_l{n}_a"] = phase.current_a
    return values


METER_FIELDS = tuple(
    meter_values(MeterReading(0, 0, 0, 1, 50, (ZERO_PHASE,) * 3, EnergyCounters(), (EnergyCounters(),) * 3))
)
# Device values may be missing (None); they are averaged over the samples that have them.
FLOW_FIELDS = ("pv_power_w", "battery_power_w", "battery_soc_pct", "house_power_w", "wallbox_power_w")


def interval_start(moment: dt.datetime) -> dt.datetime:
    return moment - (moment - _EPOCH) % INTERVAL


@dataclass
class IntervalAverage:
    start: dt.datetime
    samples: int
    values: dict[str, float | None]
    grid_power_min_w: float
    grid_power_max_w: float
    # Some inverter was held under its maximum by a limit (feed-in limit, LPP) during the interval:
    # its PV is what was delivered, not what the sun offered (the forecast leaves it out).
    curtailed: bool = False


@dataclass
class IntervalAverager:
    start: dt.datetime | None = None
    samples: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    grid_min_w: float = float("inf")
    grid_max_w: float = float("-inf")
    curtailed: bool = False

    def add(self, state: PlantState) -> IntervalAverage | None:
        """Add a snapshot; returns the finished interval when this one starts a new interval."""
        start = interval_start(state.timestamp)
        finished = self.flush() if self.start is not None and start != self.start else None
        if self.start is None or finished is not None:
            self._reset(start)
        if state.meter is None:
            return finished
        self.samples += 1
        for name, value in meter_values(state.meter).items():
            self._sum(name, value)
        for name in FLOW_FIELDS:
            self._sum(name, getattr(state.flow, name))
        self.grid_min_w = min(self.grid_min_w, state.meter.active_power_w)
        self.grid_max_w = max(self.grid_max_w, state.meter.active_power_w)
        self.curtailed = self.curtailed or is_curtailed(state)
        return finished

    def flush(self) -> IntervalAverage | None:
        """The interval so far, or None when it holds no meter sample."""
        if self.start is None or self.samples == 0:
            return None
        names = [*METER_FIELDS, *FLOW_FIELDS]
        values = {n: (self.sums[n] / self.counts[n] if self.counts.get(n) else None) for n in names}
        return IntervalAverage(self.start, self.samples, values, self.grid_min_w, self.grid_max_w, self.curtailed)

    def to_dict(self) -> dict[str, Any] | None:
        """The interval so far as JSON-able values (None without a meter sample), so that another
        worker taking the plant over can carry it on (:meth:`from_dict`)."""
        if self.start is None or self.samples == 0:
            return None
        return {
            "start": self.start.isoformat(),
            "samples": self.samples,
            "sums": self.sums,
            "counts": self.counts,
            "grid_min_w": self.grid_min_w,
            "grid_max_w": self.grid_max_w,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntervalAverager:
        """The averager :meth:`to_dict` described; ValueError (KeyError, TypeError) on anything else."""
        start = dt.datetime.fromisoformat(str(data["start"]))
        if start.tzinfo is None or interval_start(start) != start:
            raise ValueError(f"not the start of a 5-minute interval: {start}")
        samples = int(data["samples"])
        sums = {str(k): float(v) for k, v in dict(data["sums"]).items()}
        counts = {str(k): int(v) for k, v in dict(data["counts"]).items()}
        if samples < 1 or set(sums) != set(counts) or not set(sums) <= {*METER_FIELDS, *FLOW_FIELDS}:
            raise ValueError("not an interval in progress")
        return cls(start, samples, sums, counts, float(data["grid_min_w"]), float(data["grid_max_w"]))

    def _sum(self, name: str, value: float | None) -> None:
        if value is not None:
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def _reset(self, start: dt.datetime) -> None:
        self.start, self.samples, self.sums, self.counts = start, 0, {}, {}
        self.grid_min_w, self.grid_max_w = float("inf"), float("-inf")
        self.curtailed = False


def is_curtailed(state: PlantState) -> bool:
    """Whether an inverter's active power was limited below 100 % in this snapshot (by the product's
    setpoint, or a limit the inverter reports)."""
    if any(s.quantity == "active_power_limit_pct" and s.value < 100.0 - 1e-6 for s in state.setpoints):
        return True
    return any(inv.limit_pct is not None and inv.limit_pct < 100.0 - 1e-6 for inv in state.inverters)
