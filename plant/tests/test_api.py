"""The JSON API as a third-party client sees it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from meter.models import EnergyRecord, MeterLog
from meter.services import LOG_FIELDS
from plant.models import Plant
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
    (listed,) = user_client.get("/api/plants/").json()["results"]
    assert listed["id"] == plant.pk
    assert listed["name"] == "API plant"
    assert listed["installation_position"] == "grid"


def test_state_before_the_first_cycle_says_so(user_client: Client, plant: Plant):
    response = user_client.get(f"/api/plants/{plant.pk}/state")
    assert response.status_code == 503
    assert response.json() == {"detail": "no measurement yet"}


def test_state_is_the_latest_snapshot(user_client: Client, plant: Plant):
    state = PlantState(
        plant_id=plant.pk,
        timestamp=timezone.now(),
        sequence=9,
        meter=None,
        meter_status=DeviceStatus(name="meter", online=False, error="no answer within 0.5 s"),
        flow=EnergyFlow(
            grid_power_w=None,
            pv_power_w=1200.0,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=None,
            wallbox_power_w=None,
        ),
        totals=EnergyCounters(active_import_wh=42.0),
    )
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
    assert "/api/v1/plants/{plant_id}/history" in out.getvalue()


def _log(plant: Plant, start: dt.datetime, grid_w: float, pv_w: float | None) -> None:
    MeterLog.objects.create(
        plant=plant, start=start, samples=300, grid_power_w=grid_w, grid_power_min_w=grid_w - 50,
        grid_power_max_w=grid_w + 50, reactive_power_var=0, apparent_power_va=0, frequency_hz=50.01,
        power_l1_w=0, power_l2_w=0, power_l3_w=0, voltage_l1_v=230, voltage_l2_v=230, voltage_l3_v=230,
        current_l1_a=0, current_l2_a=0, current_l3_a=0, pv_power_w=pv_w,
    )  # fmt: skip


def test_history_exports_as_csv_file(user_client: Client, plant: Plant):
    start = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    _log(plant, start, -1234.5, 4000.0)
    _log(plant, start + dt.timedelta(minutes=5), 800.0, None)
    response = user_client.get(f"/api/plants/{plant.pk}/history", {"hours": "24", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="api-plant-5min-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["grid_power_w"] for row in rows] == ["-1234.5", "800.0"]
    assert rows[0]["start"] == start.isoformat()
    assert rows[0]["grid_power_max_w"] == "-1184.5"
    assert rows[1]["pv_power_w"] == "", "a value the plant did not have is an empty cell"


def test_csv_of_an_empty_window_still_has_its_header(user_client: Client, plant: Plant):
    response = user_client.get(f"/api/plants/{plant.pk}/history", {"format": "csv"})
    assert response.content.decode().splitlines() == [",".join(LOG_FIELDS)]


def test_bad_csv_request_names_the_field(user_client: Client, plant: Plant):
    response = user_client.get(f"/api/plants/{plant.pk}/history", {"hours": "0", "format": "csv"})
    assert response.status_code == 400
    header, error = response.content.decode().splitlines()
    assert header == "field,message"
    assert error.startswith("hours,")


def test_energy_records_of_the_last_days_as_json_and_csv(user_client: Client, plant: Plant):
    now = timezone.now().replace(microsecond=0)
    for age_days, import_wh in ((40, 100.0), (3, 5000.0), (1, 7500.5)):
        EnergyRecord.objects.create(
            plant=plant, time=now - dt.timedelta(days=age_days), active_import_wh=import_wh, active_export_wh=1.0,
            reactive_import_varh=0, reactive_export_varh=0, apparent_import_vah=0, apparent_export_vah=0,
        )  # fmt: skip
    body = user_client.get(f"/api/plants/{plant.pk}/energy", {"days": "7"}).json()
    assert [r["active_import_wh"] for r in body["records"]] == [5000.0, 7500.5]
    response = user_client.get(f"/api/plants/{plant.pk}/energy", {"days": "731", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["active_import_wh"] for row in rows] == ["100.0", "5000.0", "7500.5"]


@pytest.mark.parametrize("days", ["0", "733", "x"])
def test_energy_window_is_at_most_two_years(user_client: Client, plant: Plant, days: str):
    response = user_client.get(f"/api/plants/{plant.pk}/energy", {"days": days})
    assert response.status_code == 400
    assert list(response.json()) == ["days"]
