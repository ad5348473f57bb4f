"""Saved charging and mains settings reach the very next cycle (issue 13.9), and a Modbus
client's command reaches the wallbox control (MB-2): the worker's cycle against a simulated
ENECTOR and grid meter over loopback sockets, with the database and Redis."""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import redisconn
from energy.state import PlantState
from meter.models import Meter
from modbus import services as modbus_services
from modbus.wallbox_control import WallboxControls
from plant import worker
from plant.models import Plant
from tariffs import services as tariffs
from tariffs.pricing import PricePoint
from tests.stack import free_port
from wallbox.models import ChargingPlan, Wallbox
from wallbox.tests.conftest import CAR_3P, cheap_before

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


def dear_now_cheap_from_3_hours_on(plant: Plant) -> None:
    """0.35 now and for the next 3 local hours, 0.22 in the 8 hours after, every day."""
    local_hour = dt.datetime.now(zoneinfo.ZoneInfo(plant.time_zone)).hour
    cheap_before(plant, (local_hour + 11) % 24, 8)


def test_a_saved_charging_plan_applies_at_the_next_cycle(plant: Plant, carport: Wallbox, operator: Client):
    dear_now_cheap_from_3_hours_on(plant)
    for _ in range(3):
        assert box_of(cycle(plant)).current_a == 16.0
    departure = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=11)).replace(microsecond=0)
    response = operator.put(
        f"/api/plants/{plant.pk}/wallboxes/{carport.pk}/plan",
        {"target_kwh": 10, "repeat": "once", "departure_at": departure.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    waiting = box_of(cycle(plant))
    assert waiting.current_a == 0.0 and waiting.reason.startswith("charging plan: 10.0 kWh"), waiting.reason
    assert operator.delete(f"/api/plants/{plant.pk}/wallboxes/{carport.pk}/plan").status_code == 204
    assert box_of(cycle(plant)).current_a == 16.0


def test_prices_stored_in_bulk_reach_the_next_cycle(plant: Plant, carport: Wallbox):
    dear_now_cheap_from_3_hours_on(plant)
    departure = timezone.now() + dt.timedelta(hours=11)
    ChargingPlan.objects.create(wallbox=carport, target_kwh=10, repeat="once", departure_at=departure)
    assert box_of(cycle(plant)).current_a == 0.0  # waits for the cheap hours
    # A price file makes the next quarter hours the cheapest of all, the current one cheapest: the
    # plan charges now.
    start = timezone.now().replace(minute=timezone.now().minute // 15 * 15, second=0, microsecond=0)
    quarter = dt.timedelta(minutes=15)
    points = [PricePoint(start + k * quarter, start + (k + 1) * quarter, Decimal(k + 1) / 100) for k in range(6)]
    assert tariffs.store_prices(plant, "purchase", points) == 6
    now_cheap = box_of(cycle(plant))
    assert now_cheap.current_a == 16.0 and now_cheap.reason.startswith("charging plan"), now_cheap.reason


def test_settings_saved_while_redis_was_down_apply_once_it_answers(
    plant: Plant, carport: Wallbox, monkeypatch: pytest.MonkeyPatch
):
    for _ in range(3):
        assert box_of(cycle(plant)).current_a == 16.0
    # Redis does not answer: the cycle runs on, and the save cannot be announced.
    broken = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    monkeypatch.setattr(redisconn, "sync_redis", lambda *_args: broken)
    assert box_of(cycle(plant)).current_a == 16.0
    Wallbox.objects.filter(pk=carport.pk).update(mode="lock")  # not even a signal
    monkeypatch.undo()
    after = box_of(cycle(plant))
    assert after.mode == "lock" and after.current_a == 0.0


def test_a_save_whose_reload_the_database_refused_applies_within_seconds(
    plant: Plant, carport: Wallbox, operator: Client, monkeypatch: pytest.MonkeyPatch
):
    for _ in range(3):
        assert box_of(cycle(plant)).current_a == 16.0
    real_load = worker.load_config
    refused: list[int] = []

    def load_once_refused(plant_id: int) -> Any:
        if not refused:
            refused.append(plant_id)
            raise OperationalError("the database does not answer")
        return real_load(plant_id)

    monkeypatch.setattr(worker, "load_config", load_once_refused)
    monkeypatch.setattr(worker, "RELOAD_RETRY_S", 0.3)
    response = operator.post(reverse("wallbox:charging", args=[carport.pk]), charging_form(carport, mode="lock"))
    assert response.status_code == 302
    assert box_of(cycle(plant)).current_a == 16.0 and refused  # the announced reload was refused
    time.sleep(0.4)
    after = box_of(cycle(plant))
    assert after.mode == "lock" and after.current_a == 0.0


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
