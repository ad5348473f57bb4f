"""Shared fixtures of the wallbox tests: a plant with the wallbox option, people with roles, and
simulated ENECTORs on RTU-over-TCP ports that RS485 A and B point to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from plant.models import Plant
from plant.options import WALLBOX, set_option
from portal.models import Membership
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from tariffs import services as tariffs

CAR_3P = {"plug": "00:00:00", "phases": 3, "max_current_a": 16}


def cheap_before(plant: Plant, departure_hour: int, hours: int) -> None:
    """0.22 in the ``hours`` local hours before ``departure_hour``, 0.35 otherwise, every day."""
    cheap = {(departure_hour - k) % 24 for k in range(1, hours + 1)}
    day = [0 if hour in cheap else 1 for hour in range(24)]
    tariffs.save_version(
        plant,
        "purchase",
        valid_from=timezone.now() - dt.timedelta(days=1),
        basic_charge=Decimal(0),
        names=["night", "day"],
        prices=[Decimal("0.22"), Decimal("0.35")],
        grid=[day] * 7,
    )


@pytest.fixture
def plant(db: None) -> Plant:
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    set_option(plant, WALLBOX)
    return plant


def _person(name: str, plant: Plant | None, role: str | None, client: Client) -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    if role is not None and plant is not None:
        Membership.objects.create(user=user, plant=plant, role=role)
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    return _person("installer", plant, Membership.Role.INSTALLER, Client())


@pytest.fixture
def operator(plant: Plant) -> Client:
    return _person("operator", plant, Membership.Role.OPERATOR, Client())


def _simulator(boxes: list[dict[str, Any]]) -> Iterator[SimulatorHandle]:
    scenario = scenario_from_dict({"battery": None, "wallbox": None, "inverters": [], "wallboxes": boxes})
    with run_simulator_in_thread(scenario=scenario) as handle:
        yield handle


@pytest.fixture
def sim_factory(settings: Any) -> Iterator[Callable[..., SimulatorHandle]]:
    """Start simulated boxes: ``sim_factory(a={...}, b={...})`` puts box "a" behind RS485 A, "b" behind B."""
    handles: list[Iterator[SimulatorHandle]] = []

    def start(**boxes: dict[str, Any]) -> SimulatorHandle:
        generator = _simulator([{"name": name, **box} for name, box in boxes.items()])
        handles.append(generator)
        handle = next(generator)
        settings.KSEM_RS485_PORTS = {
            name.upper(): f"socket://127.0.0.1:{handle.ports[name]}" for name in boxes if name in ("a", "b")
        }
        return handle

    yield start
    for generator in handles:
        next(generator, None)


@pytest.fixture(autouse=True)
def _fresh_records() -> Iterator[None]:
    """The cycle's in-memory session records are per worker process; each test starts without any."""
    from wallbox import history

    history._trackers.clear()
    yield
    history._trackers.clear()


@pytest.fixture(autouse=True)
def _jobs_run_here() -> Iterator[None]:
    """Device jobs run in this process, as the worker would run them (the same task, the same
    device loop and line owners), without a broker in between: Celery's eager mode."""
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - registers the task

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
