"""Saved charging and mains settings reach the very next cycle (issue 13.9), and a Modbus
client's command reaches the wallbox control (MB-2): the worker's cycle against a simulated
ENECTOR and grid meter over loopback sockets, with the database and Redis."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from energy.state import PlantState
from meter.models import Meter
from modbus import services as modbus_services
from modbus.wallbox_control import WallboxControls
from plant import worker
from plant.models import Plant
from wallbox.models import Wallbox
from wallbox.tests.conftest import CAR_3P

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def carport(plant: Plant, sim_factory: Any) -> Iterator[Wallbox]:
    handle = sim_factory(a={"type": "enector_11", "address": 100, "cars": [CAR_3P]})
    Meter.objects.create(plant=plant, host=handle.host, port=handle.port, timeout_s=0.5)
    yield Wallbox.objects.create(plant=plant, name="Carport", interface="A")
    worker.shutdown_runtimes()


def cycle(plant: Plant) -> PlantState:
    return worker.run_plant_cycle(plant.pk)


def box_of(state: PlantState) -> Any:
    (box,) = state.wallboxes
    return box


def charging_form(box: Wallbox, **changes: Any) -> dict[str, Any]:
    data = {
        "mode": box.mode,
        "solar_plus_start": box.solar_plus_start,
        "solar_plus_min_share_pct": box.solar_plus_min_share_pct,
    }
    data.update(changes)
    return data


def test_a_saved_mode_applies_at_the_next_cycle(plant: Plant, carport: Wallbox, operator: Client):
    for _ in range(3):
        before = box_of(cycle(plant))
    assert before.mode == "power" and before.current_a == 16.0
    response = operator.post(reverse("wallbox:charging", args=[carport.pk]), charging_form(carport, mode="lock"))
    assert response.status_code == 302
    after = box_of(cycle(plant))
    assert after.mode == "lock" and after.current_a == 0.0 and after.reason == "locked"


def test_a_saved_fuse_applies_at_the_next_cycle(plant: Plant, carport: Wallbox, installer: Client):
    for _ in range(3):
        before = box_of(cycle(plant))
    assert before.current_a == 16.0
    form = {"phases": 3, "fuse_l1_a": 16, "fuse_l2_a": 16, "fuse_l3_a": 16, "unbalance_limit_va": 4600}
    assert installer.post(reverse("wallbox:mains"), form).status_code == 302
    after = box_of(cycle(plant))
    assert after.current_a is not None and after.current_a < 16.0
    assert "fuse L1 16 A" in after.reason or "fuse L2 16 A" in after.reason or "fuse L3 16 A" in after.reason


def test_a_paused_box_pauses_at_the_next_cycle(plant: Plant, carport: Wallbox, operator: Client):
    for _ in range(3):
        cycle(plant)
    assert operator.post(reverse("wallbox:pause", args=[carport.pk]), {"action": "pause"}).status_code == 302
    after = box_of(cycle(plant))
    assert after.current_a == 0.0 and after.reason == "paused by user"


# --- the Modbus client's command (MB-2) -------------------------------------------------------


def test_a_modbus_command_acts_at_the_next_cycle_and_release_hands_back_to_the_mode(plant: Plant, carport: Wallbox):
    for _ in range(3):
        assert box_of(cycle(plant)).current_a == 16.0
    assert modbus_services.store_wallbox_command(plant.pk, WallboxControls(mode="lock"), "modbus-tls")
    state = cycle(plant)
    assert box_of(state).current_a == 0.0 and box_of(state).reason == "Modbus client: locked"
    assert box_of(state).mode == "lock" and box_of(state).configured_mode == "power"
    assert state.wallbox_command is not None and state.wallbox_command.mode == "lock"
    assert modbus_services.store_wallbox_command(plant.pk, WallboxControls(mode="grid", current_limit_a=10.0), "t")
    limited = box_of(cycle(plant))
    assert limited.current_a == 10.0 and limited.reason == "Modbus client: Power mode: current limit 10.0 A"
    assert modbus_services.store_wallbox_command(plant.pk, WallboxControls(), "modbus-tls")
    back = box_of(cycle(plant))
    assert back.current_a == 16.0 and back.reason == "Power mode: maximum current"


def test_a_modbus_command_nobody_refreshes_expires_after_60_s(plant: Plant, carport: Wallbox):
    cycle(plant)
    written = dt.datetime.now(dt.UTC)
    payload = {"mode": "lock", "current_limit_a": None, "source": "modbus-tls", "at": written.isoformat()}
    modbus_services.sync_redis().set(modbus_services.wallbox_command_key(plant.pk), json.dumps(payload))
    held = worker.run_plant_cycle(plant.pk, now=written + dt.timedelta(seconds=59))
    assert box_of(held).current_a == 0.0 and box_of(held).reason == "Modbus client: locked"
    expired = worker.run_plant_cycle(plant.pk, now=written + dt.timedelta(seconds=60))
    assert box_of(expired).current_a == 16.0 and box_of(expired).reason == "Power mode: maximum current"
    assert expired.wallbox_command is not None and not expired.wallbox_command.in_force(expired.timestamp)


def test_the_modbus_command_shows_on_the_pages_and_in_the_api_with_its_age_and_expiry(
    plant: Plant, carport: Wallbox, installer: Client
):
    cycle(plant)
    assert modbus_services.store_wallbox_command(plant.pk, WallboxControls(mode="pv", current_limit_a=10.0), "t")
    cycle(plant)
    page = installer.get(reverse("wallbox:charging", args=[carport.pk])).content.decode()
    assert 'data-testid="modbus-command" data-in-force="true" data-mode="pv"' in page
    assert "current limit 10.0 A" in page
    overview = installer.get(reverse("wallbox:overview")).content.decode()
    assert 'data-in-force="true"' in overview
    response = installer.get(f"/api/v1/plants/{plant.pk}/wallboxes/{carport.pk}")
    assert response.status_code == 200, response.content
    command = response.json()["modbus_command"]
    assert command["mode"] == "solar_pure" and command["register_mode"] == "pv"
    assert command["current_limit_a"] == 10.0 and command["in_force"] is True
    assert 0 <= command["age_s"] < 30 and 30 < command["expires_in_s"] <= 60 and command["timeout_s"] == 60
    assert response.json()["live"]["reason"].startswith("Modbus client: ")
    assert modbus_services.store_wallbox_command(plant.pk, WallboxControls(), "t")
    cycle(plant)
    page = installer.get(reverse("wallbox:charging", args=[carport.pk])).content.decode()
    assert 'data-in-force="false" data-mode="released"' in page
