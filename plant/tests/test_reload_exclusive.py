"""Settings saved while a guard pass is on a plant's devices: the worker rebuilds the changed
connections only after the pass, never under it (a meter closed in the middle of a pass's read
would show as a meter outage that never happened)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from meter.models import Meter
from plant import fastpass, worker
from plant.models import Plant
from plant.runtime import device_loop
from simulator.testing import SimulatorHandle, run_simulator_in_thread


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=5) as handle:
        yield handle
    worker.shutdown_runtimes()


@pytest.mark.django_db(transaction=True)  # _reload reads the settings from another thread
def test_a_changed_meter_waits_for_the_pass_on_the_devices(sim: SimulatorHandle) -> None:
    plant = Plant.objects.create(name="Reload")
    Meter.objects.create(plant=plant, host="127.0.0.1", port=sim.port, timeout_s=1.0)
    assert worker.run_plant_cycle(plant.pk).meter_status.online
    entry = worker._runtimes[plant.pk]
    first_meter = entry.runtime.meter

    # A pass holds the devices until released (as a guard pass waiting on a slow meter would).
    release = threading.Event()

    async def pass_on_the_devices() -> bool:
        await asyncio.to_thread(release.wait, 10)
        return entry.runtime.meter is first_meter

    held = asyncio.run_coroutine_threadsafe(
        fastpass.exclusive(entry.runtime, pass_on_the_devices()), device_loop().loop
    )
    Meter.objects.filter(plant=plant).update(timeout_s=0.8)  # the installer saves the meter
    reload = threading.Thread(target=worker._reload, args=(plant.pk, entry))
    reload.start()
    reload.join(0.5)
    assert reload.is_alive(), "the new meter connection was built while a pass was on the devices"
    release.set()
    assert held.result(5), "the pass lost its meter before it ended"
    reload.join(5)
    assert not reload.is_alive()
    assert entry.runtime.meter is not first_meter
    assert worker.run_plant_cycle(plant.pk).meter_status.online
