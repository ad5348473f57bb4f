"""The guard pass's meter read: the instantaneous values now, the energy counters as the cycle's
last full read found them (the cycle alone counts energy)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from energy.config import KsemTcpConfig
from meter.drivers.ksem_tcp import KsemTcpMeter
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread

NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    scenario = scenario_from_dict({"cloudiness": 0, "house_base_w": 800})
    with run_simulator_in_thread(seed=7, scenario=scenario, start=NOON, clock=False) as handle:
        yield handle


async def test_a_live_read_is_fresh_but_keeps_the_last_counters(sim: SimulatorHandle) -> None:
    meter = KsemTcpMeter(KsemTcpConfig(sim.host, sim.port, timeout_s=1.0))
    try:
        first_live = await meter.read_live()  # nothing read yet: a full read
        sim.step(NOON + dt.timedelta(minutes=10))
        full = await meter.read()
        sim.step(NOON + dt.timedelta(minutes=20))
        live = await meter.read_live()
        fresh = await meter.read()
    finally:
        meter.close()
    assert first_live.reading.energy.active_export_wh > 0
    assert live.reading.active_power_w == fresh.reading.active_power_w != full.reading.active_power_w
    assert live.reading.phases == fresh.reading.phases
    assert live.reading.energy == full.reading.energy != fresh.reading.energy
