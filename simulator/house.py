"""Household consumption: a base load spread unevenly over the phases plus appliances that
switch on and off, each on one phase, at seeded times that follow a daily rhythm.

Pure functions of simulated time and the seed (see :mod:`simulator.noise`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from simulator import noise

# Typical single-phase wiring: L1 carries most of the sockets, L3 the least.
BASE_PHASE_SHARES = (0.40, 0.35, 0.25)
BASE_POWER_FACTOR = 0.95  # inductive: motors, transformers and switch-mode supplies
_BASE_WOBBLE = 0.1  # the base load drifts by +-10 %
_BASE_WOBBLE_PERIOD_S = 300.0
# Switch-mode supplies, fridges' compressors and lights make a real load flicker by a few
# watts from one second to the next; a meter never reads the same value twice in a row.
_BASE_FLICKER = 0.02
_BASE_FLICKER_PERIOD_S = 1.5

Phases = tuple[float, float, float]


def reactive_var(active_w: float, power_factor: float) -> float:
    """Inductive reactive power of a load with this power factor."""
    return active_w * math.tan(math.acos(power_factor))


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    power_w: float
    power_factor: float
    min_duration_s: float
    max_duration_s: float
    window_s: float  # at most one run starts in each window
    # Chance of a run per window, by local hour: (first hour, last hour, chance) ranges.
    chances: tuple[tuple[int, int, float], ...]

    def chance(self, local_hour: int) -> float:
        return max((c for first, last, c in self.chances if first <= local_hour <= last), default=0.0)

    @property
    def lookback(self) -> int:
        return math.ceil((self.window_s + self.max_duration_s) / self.window_s)


APPLIANCES: tuple[Appliance, ...] = (
    Appliance("fridge", 120.0, 0.75, 480.0, 900.0, 1800.0, ((0, 23, 0.9),)),
    Appliance("kettle", 2000.0, 1.0, 120.0, 240.0, 3600.0, ((6, 9, 0.6), (10, 17, 0.25), (18, 22, 0.35))),
    Appliance("microwave", 1200.0, 0.9, 60.0, 300.0, 3600.0, ((7, 8, 0.2), (11, 13, 0.4), (17, 20, 0.3))),
    Appliance("hair dryer", 1600.0, 0.98, 180.0, 480.0, 7200.0, ((6, 8, 0.5), (20, 22, 0.2))),
    Appliance("washing machine", 2100.0, 0.95, 900.0, 1800.0, 14_400.0, ((8, 19, 0.35),)),
    Appliance("dishwasher", 1900.0, 0.97, 1200.0, 2400.0, 14_400.0, ((12, 14, 0.4), (19, 22, 0.5))),
    Appliance("oven", 2800.0, 1.0, 1800.0, 3600.0, 7200.0, ((11, 12, 0.3), (17, 19, 0.4))),
    Appliance("tv and computer", 180.0, 0.9, 3600.0, 10_800.0, 10_800.0, ((8, 16, 0.3), (17, 23, 0.8))),
)


@dataclass(frozen=True, slots=True)
class HouseLoad:
    active_w: Phases
    reactive_var: Phases

    @property
    def total_w(self) -> float:
        return sum(self.active_w)


def split_base(total_w: float) -> HouseLoad:
    """A load of ``total_w`` spread like the base load, at the base power factor."""
    active = tuple(total_w * share for share in BASE_PHASE_SHARES)
    return HouseLoad(
        active_w=(active[0], active[1], active[2]),
        reactive_var=(
            reactive_var(active[0], BASE_POWER_FACTOR),
            reactive_var(active[1], BASE_POWER_FACTOR),
            reactive_var(active[2], BASE_POWER_FACTOR),
        ),
    )


@dataclass(slots=True)
class Household:
    seed: int
    base_w: float
    zone: dt.tzinfo = dt.UTC  # the daily rhythm follows local time
    appliances: tuple[Appliance, ...] = APPLIANCES
    _runs: dict[tuple[int, int], tuple[float, float] | None] = field(default_factory=dict, repr=False)
    # The last load computed: the plant evaluates the same instant several times in a row.
    _last: tuple[float, HouseLoad] | None = field(default=None, init=False, repr=False, compare=False)

    def load(self, t_s: float) -> HouseLoad:
        """Consumption at ``t_s`` (seconds since the Unix epoch)."""
        last = self._last
        if last is not None and last[0] == t_s:
            return last[1]
        load = self._load(t_s)
        self._last = (t_s, load)
        return load

    def _load(self, t_s: float) -> HouseLoad:
        wobble = _BASE_WOBBLE * noise.smooth(self.seed, _BASE, t_s, _BASE_WOBBLE_PERIOD_S)
        flicker = _BASE_FLICKER * noise.smooth(self.seed, _FLICKER, t_s, _BASE_FLICKER_PERIOD_S)
        base = split_base(self.base_w * (1.0 + wobble + flicker))
        active = list(base.active_w)
        reactive = list(base.reactive_var)
        for number, appliance in enumerate(self.appliances):
            if self._running(number, appliance, t_s):
                phase = self.phase_of(number)
                active[phase] += appliance.power_w
                reactive[phase] += reactive_var(appliance.power_w, appliance.power_factor)
        return HouseLoad((active[0], active[1], active[2]), (reactive[0], reactive[1], reactive[2]))

    def phase_of(self, number: int) -> int:
        """The phase (0-2) an appliance is wired to; fixed for a seed."""
        return min(2, int(noise.unit(self.seed, _PHASE, number) * 3))

    def _running(self, number: int, appliance: Appliance, t_s: float) -> bool:
        window = math.floor(t_s / appliance.window_s)
        for index in range(window - appliance.lookback, window + 1):
            run = self._run(number, appliance, index)
            if run is not None and run[0] <= t_s < run[1]:
                return True
        return False

    def _run(self, number: int, appliance: Appliance, window: int) -> tuple[float, float] | None:
        key = (number, window)
        if key not in self._runs:
            if len(self._runs) > 4096:
                self._runs.clear()
            self._runs[key] = self._draw_run(number, appliance, window)
        return self._runs[key]

    def _draw_run(self, number: int, appliance: Appliance, window: int) -> tuple[float, float] | None:
        channel = _APPLIANCE + number
        start_s = (window + noise.unit(self.seed, channel, window, 1)) * appliance.window_s
        local_hour = dt.datetime.fromtimestamp(start_s, self.zone).hour
        if noise.unit(self.seed, channel, window, 0) >= appliance.chance(local_hour):
            return None
        spread_s = appliance.max_duration_s - appliance.min_duration_s
        duration_s = appliance.min_duration_s + noise.unit(self.seed, channel, window, 2) * spread_s
        return start_s, start_s + duration_s


_BASE = noise.channel_id("house.base")
_PHASE = noise.channel_id("house.phase")
_FLICKER = noise.channel_id("house.flicker")
_APPLIANCE = noise.channel_id("house.appliance")
