"""The plant's meter is whichever driver the installer chose (MET-2): an SDM630 on Modbus RTU, read
through the cycle, scaled by the current-transformer ratio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meter.models import Meter
from plant import worker
from plant.models import Plant
from simulator.testing import SimulatorHandle, run_simulator_in_thread


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=4, sdm630_port=0) as handle:
        yield handle
    worker.shutdown_runtimes()


@pytest.mark.django_db
@pytest.mark.parametrize(("ct_primary_a", "factor"), [(None, 1.0), (100, 20.0)])
def test_an_sdm630_meter_behind_current_transformers(sim: SimulatorHandle, ct_primary_a, factor):
    sim.model.override(pv_power_w=0, house_power_w=2_300)
    plant = Plant.objects.create(name="RTU plant")
    Meter.objects.create(
        plant=plant,
        driver=Meter.Driver.SDM630_RTU,
        serial_port=f"socket://127.0.0.1:{sim.ports['sdm630']}",
        timeout_s=1.0,
        ct_primary_a=ct_primary_a,
    )
    state = worker.run_plant_cycle(plant.pk)
    assert state.meter_status.online, state.meter_status.error
    measured = sim.model.reading()
    assert state.meter is not None
    assert state.meter.active_power_w == pytest.approx(measured.active_power_w * factor, rel=1e-3)
    assert state.meter.phases[0].current_a == pytest.approx(measured.phases[0].current_a * factor, rel=1e-3)
    assert state.meter.phases[0].voltage_v == pytest.approx(measured.phases[0].voltage_v, rel=1e-3)
