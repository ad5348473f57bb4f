"""Controller tests in the spirit of OpenEMS's ControllerTest and evcc's tables.

Step a clock, feed one cycle's inputs in a few words, read back what the act step would write,
with its reason, and each controller's status::

    test = ControllerTest([FeedInLimitation()], config)
    out = test.cycle(grid_w=-8000, inverters={"south": 6000, "west": 4000})
    assert out.value("south", "active_power_limit_pct") == pytest.approx(62.5, abs=0.1)
    test.cycle(after_s=1, grid_w=-5975, inverters={"south": 4500, "west": 3000})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from energy.config import PlantConfig
from energy.control import Controller, ControlLoop, Outcome
from energy.state import (
    ZERO_PHASE,
    ControllerStatus,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    InverterState,
    MeterReading,
    PlantState,
    Setpoint,
)

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inverter:
    """One inverter's reading in a test cycle; ``None`` output = offline."""

    ac_power_w: float | None
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None


@dataclass(frozen=True)
class CycleOutcome:
    state: PlantState
    outcome: Outcome

    def setpoint(self, device: str, quantity: str) -> Setpoint:
        """The setpoint written to ``device``; a test failure if there is none."""
        found = next((s for s in self.outcome.setpoints if s.device == device and s.quantity == quantity), None)
        if found is None:
            raise AssertionError(f"no {quantity} written to {device}; written: {self.outcome.setpoints}")
        return found

    def value(self, device: str, quantity: str) -> float | None:
        """The value written to ``device``, ``None`` if nothing was."""
        found = next((s for s in self.outcome.setpoints if s.device == device and s.quantity == quantity), None)
        return found.value if found else None

    def status(self, controller: str) -> ControllerStatus:
        return next(s for s in self.outcome.statuses if s.name == controller)

    def devices(self) -> set[str]:
        return {s.device for s in self.outcome.setpoints}


class ControllerTest:
    def __init__(self, controllers: Sequence[Controller], config: PlantConfig, start: dt.datetime = START) -> None:
        self.loop = ControlLoop(controllers)
        self.config = config
        self.now = start
        self.sequence = 0

    def cycle(
        self,
        *,
        grid_w: float | None,
        inverters: Mapping[str, float | Inverter | None] = (),  # type: ignore[assignment]
        after_s: float = 0.0,
    ) -> CycleOutcome:
        """Advance the clock by ``after_s``, then run one cycle on these readings."""
        self.now += dt.timedelta(seconds=after_s)
        self.sequence += 1
        state = PlantState(
            plant_id=self.config.plant_id,
            timestamp=self.now,
            sequence=self.sequence,
            meter=_meter(grid_w),
            meter_status=DeviceStatus(name="meter", online=grid_w is not None),
            flow=EnergyFlow(
                grid_power_w=grid_w,
                pv_power_w=None,
                battery_power_w=None,
                battery_soc_pct=None,
                house_power_w=None,
                wallbox_power_w=None,
            ),
            totals=EnergyCounters(),
            inverters=tuple(self._inverter(name, value) for name, value in dict(inverters).items()),
        )
        return CycleOutcome(state, self.loop.run(state, self.config, self.now))

    def _inverter(self, name: str, value: float | Inverter | None) -> InverterState:
        config = next(inv for inv in self.config.inverters if inv.name == name)
        reading = value if isinstance(value, Inverter) else Inverter(ac_power_w=value)
        online = reading.ac_power_w is not None
        return InverterState(
            name=name,
            type=config.type,
            status=DeviceStatus(name=name, online=online, error="" if online else "no answer"),
            controllable=config.controllable,
            max_ac_w=config.max_ac_w,
            ac_power_w=reading.ac_power_w,
            battery_power_w=reading.battery_power_w,
            battery_soc_pct=reading.battery_soc_pct,
        )


def _meter(grid_w: float | None) -> MeterReading | None:
    if grid_w is None:
        return None
    return MeterReading(
        grid_w,
        0.0,
        abs(grid_w),
        1.0,
        50.0,
        (ZERO_PHASE, ZERO_PHASE, ZERO_PHASE),
        EnergyCounters(),
        (EnergyCounters(),) * 3,
    )
