"""The worker's cycle with the grid operator's limits, against the simulated meter over TCP: the
limit in force reaches the snapshot, a timer that fires in the cycle is stored with its exact
time, and a worker restart keeps the limit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from energy import gridlimit as g
from meter.models import Meter
from plant import live, worker
from plant.models import Plant
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from smartgrid import services
from smartgrid.models import GridLimitEntry, GridLimits

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=5) as sim:
        yield sim


@pytest.fixture
def plant(db: None, simulator: SimulatorHandle) -> Iterator[Plant]:
    plant = Plant.objects.create(name="Test plant")
    Meter.objects.create(plant=plant, host=simulator.host, port=simulator.port, timeout_s=0.3)
    yield plant
    worker.shutdown_runtimes()


def test_limit_in_the_snapshot_heartbeat_loss_stored_and_kept_across_a_worker_restart(plant: Plant) -> None:
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    services.set_enabled(plant.pk, True, now=t0)
    services.heartbeat(plant.pk, now=t0 + dt.timedelta(seconds=1))
    services.write_limit(
        plant.pk, g.CONSUME, active=True, value_w=4200.0, duration_s=None, now=t0 + dt.timedelta(seconds=2)
    )
    state = worker.run_plant_cycle(plant.pk, now=t0 + dt.timedelta(seconds=3))
    assert state.grid_limits is not None and state.grid_limits.lpc_w == 4200.0
    assert live.read_state(plant.pk) == state
    # A worker restart: the facts come from the database again.
    worker.shutdown_runtimes()
    again = worker.run_plant_cycle(plant.pk, now=t0 + dt.timedelta(seconds=120))
    assert again.grid_limits is not None and again.grid_limits.consume.state == g.LIMITED
    # 120 s after the last heartbeat (t0 + 1 s): failsafe, stored by the worker at that very time.
    late = worker.run_plant_cycle(plant.pk, now=t0 + dt.timedelta(seconds=125))
    assert late.grid_limits is not None and late.grid_limits.consume.state == g.FAILSAFE
    assert late.grid_limits.lpc_w == 10_000.0
    assert GridLimits.objects.get(plant=plant).lpc_state == g.FAILSAFE
    entry = GridLimitEntry.objects.filter(plant=plant, direction=g.CONSUME).order_by("-id").first()
    assert entry is not None and entry.kind == g.FAILSAFE_KIND
    assert entry.valid_from == t0 + dt.timedelta(seconds=121)
