from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.stack import Stack, free_port


@pytest.fixture(scope="module")
def stack_processes(django_db_setup, tmp_path_factory) -> Iterator[Stack]:
    """Simulator, web, worker and beat as subprocesses against the test database and Redis."""
    logs = tmp_path_factory.mktemp("stack-logs")
    # No house battery: it would hold the grid at 0 W whenever it can, and the tests watch the grid move.
    scenario = logs / "scenario.json"
    scenario.write_text(json.dumps({"battery": None}))
    running = Stack(meter_port=free_port(), web_port=free_port(), logs=logs, scenario=scenario)
    try:
        for name in ("simulator", "worker", "beat", "web"):
            running.start(name)
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def stack(stack_processes: Stack, transactional_db) -> Stack:
    """The running stack with a plant on the simulator and a known device password.

    The data is committed (the processes must see it) and flushed after the test.
    """
    from meter.models import Meter
    from plant.models import Plant
    from portal.services import reset_device_password

    plant = Plant.objects.create(name="E2E plant")
    Meter.objects.create(plant=plant, port=stack_processes.meter_port, timeout_s=0.5)
    stack_processes.plant_id = plant.pk
    stack_processes.password = reset_device_password()
    stack_processes.wait_healthy()
    return stack_processes
