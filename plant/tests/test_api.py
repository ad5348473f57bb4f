"""The JSON API as a third-party client sees it."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from meter.models import MeterLog
from plant.models import Plant
from plant.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from tests.pages import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="API plant")


@pytest.mark.parametrize("path", ["/api/plants/", "/api/plants/{id}/state", "/api/plants/{id}/history"])
def test_data_needs_authentication(client: Client, plant: Plant, path: str):
    response = client.get(path.format(id=plant.pk))
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_plants_are_listed(user_client: Client, plant: Plant):
    (listed,) = user_client.get("/api/plants/").json()
    assert listed["id"] == plant.pk
    assert listed["name"] == "API plant"
    assert listed["installation_position"] == "grid"


def test_state_before_the_first_cycle_says_so(user_client: Client, plant: Plant):
    response = user_client.get(f"/api/plants/{plant.pk}/state")
    assert response.status_code == 503
    assert response.json() == {"detail": "no measurement yet"}


def test_state_is_the_latest_snapshot(user_client: Client, plant: Plant):
    state = PlantState(
        plant.pk, timezone.now(), 9, None, DeviceStatus("meter", False, error="no answer within 0.5 s"),
        EnergyFlow(None, 1200.0, None, None, None, None), EnergyCounters(active_import_wh=42.0),
    )  # fmt: skip
    publish(state)
    body = user_client.get(f"/api/plants/{plant.pk}/state").json()
    assert body["sequence"] == 9
    assert body["meter_status"]["error"] == "no answer within 0.5 s"
    assert body["flow"]["pv_power_w"] == 1200.0
    assert body["totals"]["active_import_wh"] == 42.0


def test_unknown_plant_is_404(user_client: Client):
    assert user_client.get("/api/plants/999999/state").status_code == 404
    assert user_client.get("/api/plants/999999/history").status_code == 404


@pytest.mark.parametrize("hours", ["0", "337", "abc", "-5"])
def test_bad_history_window_is_refused_naming_the_field(user_client: Client, plant: Plant, hours: str):
    response = user_client.get(f"/api/plants/{plant.pk}/history", {"hours": hours})
    assert response.status_code == 400
    assert list(response.json()) == ["hours"]


def test_history_returns_the_five_minute_averages_of_the_window(user_client: Client, plant: Plant):
    now = timezone.now()
    for age_h, grid_w in ((30, 111.0), (2, 222.0), (1, 333.0)):
        MeterLog.objects.create(
            plant=plant, start=now - dt.timedelta(hours=age_h), samples=300, grid_power_w=grid_w,
            grid_power_min_w=0, grid_power_max_w=0, reactive_power_var=0, apparent_power_va=0, frequency_hz=50,
            power_l1_w=0, power_l2_w=0, power_l3_w=0, voltage_l1_v=230, voltage_l2_v=230, voltage_l3_v=230,
            current_l1_a=0, current_l2_a=0, current_l3_a=0, pv_power_w=None,
        )  # fmt: skip
    body = user_client.get(f"/api/plants/{plant.pk}/history", {"hours": "24"}).json()
    assert body["interval_s"] == 300
    assert [p["grid_power_w"] for p in body["points"]] == [222.0, 333.0], "oldest first, only the last 24 h"
    assert body["points"][0]["pv_power_w"] is None


def test_published_schema_is_valid_openapi():
    out, err = io.StringIO(), io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=err)
    assert "/api/plants/{plant_id}/history" in out.getvalue()
