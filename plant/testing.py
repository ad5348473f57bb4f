"""Scripted devices for cycle tests: hand ``PlantRuntime`` devices whose answers a test sets.

meter = ScriptedMeter(grid_w=-9000)
south = ScriptedInverter("south", ac_power_w=10000)
runtime = PlantRuntime(config, CounterState(), RecordingPublisher(), meter=meter,
                       inverter_factory=scripted({"south": south}))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from energy.config import InverterConfig
from energy.devices import Device, DeviceError, InverterReading
from energy.state import ZERO_PHASE, EnergyCounters, MeterReading, PlantState, Setpoint
from meter.drivers.ksem_tcp import MeterSample


@dataclass
class ScriptedMeter:
    grid_w: float | None = 0.0
    name: str = "meter"

    async def read(self) -> MeterSample:
        if self.grid_w is None:
            raise DeviceError("no answer (scripted)")
        reading = MeterReading(
            self.grid_w, 0.0, abs(self.grid_w), 1.0, 50.0, (ZERO_PHASE,) * 3, EnergyCounters(), (EnergyCounters(),) * 3
        )
        return MeterSample(reading=reading, flow=None)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        """A meter takes no setpoints."""

    def close(self) -> None:
        pass


@dataclass
class ScriptedInverter:
    name: str
    ac_power_w: float | None = 0.0
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None
    read_delay_s: float = 0.0
    written: list[tuple[Setpoint, ...]] = field(default_factory=list)
    closed: bool = False

    async def read(self) -> InverterReading:
        if self.read_delay_s:
            await asyncio.sleep(self.read_delay_s)
        if self.ac_power_w is None:
            raise DeviceError("no answer (scripted)")
        return InverterReading(
            ac_power_w=self.ac_power_w, battery_power_w=self.battery_power_w, battery_soc_pct=self.battery_soc_pct
        )

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        self.written.append(tuple(setpoints))

    def close(self) -> None:
        self.closed = True


def scripted(devices: Mapping[str, ScriptedInverter]) -> Callable[[InverterConfig], Device[InverterReading]]:
    return lambda config: devices[config.name]


@dataclass
class RecordingPublisher:
    states: list[PlantState] = field(default_factory=list)

    async def publish(self, state: PlantState) -> None:
        self.states.append(state)
