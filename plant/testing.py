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

from energy.config import CHARGING_CURRENT_A, CHARGING_PHASES, InverterConfig, WallboxConfig
from energy.devices import (
    EVSE_CHARGING,
    EVSE_CONNECTED,
    EVSE_IDLE,
    Device,
    DeviceError,
    InverterReading,
    WallboxReading,
)
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
class ScriptedWallbox:
    """A box with a car that draws what the last written current allows (on ``car_phases``,
    at most ``car_max_current_a``); ``online=False`` makes reads and writes fail."""

    name: str
    vehicle_connected: bool = True
    car_phases: int = 3
    car_max_current_a: float = 16.0
    online: bool = True
    error_code: int = 0
    current_limit_a: float = 0.0
    switched_phases: int = 3
    written: list[tuple[Setpoint, ...]] = field(default_factory=list)
    closed: bool = False

    async def read(self) -> WallboxReading:
        if not self.online:
            raise DeviceError("no answer (scripted)")
        phases = min(self.car_phases, self.switched_phases)
        current = min(self.current_limit_a, self.car_max_current_a) if self.vehicle_connected else 0.0
        charging = current > 0.0
        currents = tuple(current if n < phases else 0.0 for n in range(3))
        state = EVSE_CHARGING if charging else EVSE_CONNECTED if self.vehicle_connected else EVSE_IDLE
        return WallboxReading(
            evse_state=state,
            vehicle_connected=self.vehicle_connected,
            charging=charging,
            error_code=self.error_code,
            phase_currents_a=(currents[0], currents[1], currents[2]),
            power_w=sum(currents) * 230.0,
            current_limit_a=self.current_limit_a,
            released=self.current_limit_a > 0.0,
            switched_phases=self.switched_phases,
        )

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        if not self.online:
            raise DeviceError("no answer (scripted)")
        self.written.append(tuple(setpoints))
        for setpoint in setpoints:
            if setpoint.quantity == CHARGING_CURRENT_A:
                self.current_limit_a = setpoint.value
            elif setpoint.quantity == CHARGING_PHASES:
                self.switched_phases = int(setpoint.value)

    def close(self) -> None:
        self.closed = True


def scripted_wallboxes(devices: Mapping[str, ScriptedWallbox]) -> Callable[[WallboxConfig], Device[WallboxReading]]:
    return lambda config: devices[config.name]


@dataclass
class RecordingPublisher:
    states: list[PlantState] = field(default_factory=list)

    async def publish(self, state: PlantState) -> None:
        self.states.append(state)
