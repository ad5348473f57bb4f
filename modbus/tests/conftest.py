"""Shared pieces of the Modbus tests: a snapshot with distinct values, an in-memory backend, a running slave."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from energy import snapshot
from energy.state import (
    DeviceInfo,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    MeterReading,
    PhaseReading,
    PlantState,
)
from modbus import registermap
from modbus.master import TargetStatus
from modbus.slave.server import ModbusSlave, SlaveConfig
from modbus.wallbox_control import WallboxControls

PLANT_ID = 3


def make_state(
    sequence: int = 1,
    *,
    power_w: float = 1234.5,
    online: bool = True,
    timestamp: dt.datetime | None = None,
    plant_id: int = PLANT_ID,
) -> PlantState:
    """A snapshot where every value differs, raw meter counters far from the totals."""
    phases = tuple(
        PhaseReading(
            voltage_v=229.5 + n,
            current_a=1.5 + n * 2.25,
            active_power_w=power_w / 3 + n * 100,
            reactive_power_var=-50.0 - n * 10,
            apparent_power_va=power_w / 3 + n * 100 + 20,
            power_factor=0.95 - n * 0.01,
        )
        for n in range(3)
    )
    reading = MeterReading(
        active_power_w=sum(p.active_power_w for p in phases),
        reactive_power_var=sum(p.reactive_power_var for p in phases),
        apparent_power_va=sum(p.apparent_power_va for p in phases),
        power_factor=0.94,
        frequency_hz=49.987,
        phases=(phases[0], phases[1], phases[2]),
        energy=EnergyCounters(active_import_wh=10.0, active_export_wh=20.0),  # raw: must not be served
        phase_energy=(EnergyCounters(), EnergyCounters(), EnergyCounters()),
    )
    totals = EnergyCounters(
        active_import_wh=1_234_567.8 + sequence,
        active_export_wh=7_654_321.1,
        reactive_import_varh=111_111.1,
        reactive_export_varh=22_222.2,
        apparent_import_vah=1_500_000.0,
        apparent_export_vah=8_000_000.5,
    )
    phase_totals = tuple(
        EnergyCounters(
            active_import_wh=400_000.0 + n,
            active_export_wh=2_500_000.0 + n,
            reactive_import_varh=30_000.0 + n,
            reactive_export_varh=7_000.0 + n,
            apparent_import_vah=500_000.0 + n,
            apparent_export_vah=2_600_000.0 + n,
        )
        for n in range(3)
    )
    now = timestamp or dt.datetime.now(dt.UTC)
    return PlantState(
        plant_id=plant_id,
        timestamp=now,
        sequence=sequence,
        meter=reading if online else None,
        meter_status=DeviceStatus(name="meter", online=online, error="" if online else "no answer within 0.5 s"),
        flow=EnergyFlow(
            grid_power_w=reading.active_power_w,
            pv_power_w=4200.0,
            battery_power_w=-800.0,
            battery_soc_pct=63.0,
            house_power_w=3100.0,
            wallbox_power_w=None,
        ),
        totals=totals,
        phase_totals=(phase_totals[0], phase_totals[1], phase_totals[2]),
    )


def meter_of(state: PlantState) -> MeterReading:
    assert state.meter is not None
    return state.meter


def info() -> DeviceInfo:
    return registermap.product_info(PLANT_ID, 1000)


class MemoryBackend:
    """The slave's backend without database or Redis."""

    def __init__(self, config: SlaveConfig | None = None) -> None:
        self.config = config or SlaveConfig(plant_id=PLANT_ID)
        self.snapshots: dict[int, bytes] = {}
        self.trust: dict[str, str] = {}
        self.recorded: list[bytes] = []
        self.commands: list[WallboxControls] = []
        self.statuses: dict[int, TargetStatus] = {}

    def publish(self, state: PlantState) -> None:
        self.snapshots[state.plant_id] = snapshot.to_json(state)

    def load_config(self) -> SlaveConfig:
        return self.config

    def load_trust(self) -> dict[str, str]:
        return dict(self.trust)

    def record_certificate(self, der: bytes) -> None:
        from modbus import tls

        self.recorded.append(der)
        self.trust.setdefault(tls.fingerprint(der), "pending")

    def store_command(self, plant_id: int, controls: WallboxControls, source: str) -> bool:
        self.commands.append(controls)
        return True

    def load_command(self, plant_id: int) -> WallboxControls:
        return self.commands[-1] if self.commands else WallboxControls()

    def write_target_statuses(self, statuses: dict[int, TargetStatus]) -> None:
        self.statuses = statuses

    async def read_snapshot(self, plant_id: int) -> bytes | None:
        return self.snapshots.get(plant_id)

    def product_info(self, plant_id: int) -> DeviceInfo:
        return info()


@pytest.fixture
def backend() -> MemoryBackend:
    backend = MemoryBackend()
    backend.publish(make_state())
    return backend


SlaveFactory = Callable[..., "asyncio.Future[ModbusSlave]"]


@pytest.fixture
async def start_slave(tmp_path) -> AsyncIterator[Callable[..., object]]:
    """Starts slaves on free loopback ports (stopped after the test)."""
    started: list[ModbusSlave] = []

    async def start(backend: MemoryBackend, **kwargs: object) -> ModbusSlave:
        options: dict[str, object] = {
            "tcp_port": 0,
            "tls_port": 0,
            "tls_dir": tmp_path / "tls",
            "poll_s": 0.02,
            "config_every_s": 0.1,
            "trust_every_s": 0.05,
        }
        options.update(kwargs)
        slave = ModbusSlave(backend, **options)  # type: ignore[arg-type]
        await slave.start()
        started.append(slave)
        return slave

    yield start
    for slave in started:
        await slave.stop()


def stale_copy(state: PlantState, age_s: float) -> PlantState:
    return replace(state, timestamp=state.timestamp - dt.timedelta(seconds=age_s))
