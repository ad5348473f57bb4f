"""The stored forecast as people and clients see it: computed from the plant's own log, stored
by the 15-minute job for active plants, on the dashboard and its own page, in the API (any role
on the plant reads, installers set the location, no look into another plant)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from energy import forecast as fc
from forecast import services, tasks
from forecast.models import StoredForecast
from inverters.models import Inverter
from meter.models import MeterLog
from plant.models import Plant

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 21, 10, 2, tzinfo=dt.UTC)
LOG_FIELDS = {"samples": 300, "grid_power_w": 0.0, "grid_power_min_w": 0.0, "grid_power_max_w": 0.0}


def write_log(plant: Plant, days: int, pv_share: float, house_w: float, now: dt.datetime = NOW) -> None:
    """``days`` of 5-minute averages: PV at ``pv_share`` of the clear sky, a flat house."""
    site = services.inputs_of(plant).site
    first = fc.slot_floor(now.timestamp()) - days * 86_400
    rows = []
    for n in range(days * 288):
        start_s = first + n * 300
        pv = fc.clear_sky_w(start_s + 150, site) * pv_share
        start = dt.datetime.fromtimestamp(start_s, dt.UTC)
        rows.append(MeterLog(plant=plant, start=start, pv_power_w=pv, house_power_w=house_w, **LOG_FIELDS))
    MeterLog.objects.bulk_create(rows)


def test_cold_start_uses_the_time_zone_location_and_the_inverters_peak(plant: Plant) -> None:
    Inverter.objects.create(plant=plant, name="Garage", type=Inverter.Type.PIKO_CI, max_ac_w=2000, host="10.0.0.3")
    forecast, inputs = services.compute(plant, NOW)
    assert inputs.location_source == "time zone"
    assert (inputs.site.latitude_deg, inputs.site.longitude_deg) == (51.0, 10.0)
    assert inputs.site.peak_w == 10_000.0
    assert forecast.pv_source == "clear-sky" and forecast.load_source == "base load"
    assert len(forecast.slots) == 144
    assert max(s.pv_w for s in forecast.slots) <= 10_000.0


def test_history_from_the_log_scales_pv_and_sets_the_load(plant: Plant) -> None:
    write_log(plant, days=7, pv_share=0.5, house_w=640.0)
    forecast, _ = services.compute(plant, NOW)
    assert forecast.pv_source == "history"
    assert forecast.pv_ratios == pytest.approx((0.5, 0.5, 0.5), abs=0.03)
    assert forecast.load_source == "history"
    assert all(s.load_w == pytest.approx(640.0) for s in forecast.slots)
    cold = fc.compute(NOW, services.inputs_of(plant).site)
    assert forecast.pv_energy_wh() == pytest.approx(0.5 * cold.pv_energy_wh(), rel=0.05)


def test_the_job_stores_a_forecast_for_every_active_plant(plant: Plant, other_plant: Plant) -> None:
    Plant.objects.create(name="Switched off", is_active=False)
    assert services.latest(plant.pk) is None
    assert tasks.recompute_forecasts() == 2
    assert StoredForecast.objects.count() == 2
    stored = services.latest(plant.pk)
    assert stored is not None and len(stored.slots) == 144
    assert StoredForecast.objects.get(plant=other_plant).inputs["latitude_deg"] == 47.6  # Vienna's
    tasks.recompute_forecasts()
    assert StoredForecast.objects.count() == 2  # replaced, not piled up


def test_the_job_runs_every_15_minutes_on_the_default_queue() -> None:
    from ksem_site.celery import app

    entry: Any = app.conf.beat_schedule["forecast"]
    assert entry == settings.CELERY_BEAT_SCHEDULE["forecast"]
    assert tasks.recompute_forecasts.name == entry["task"]
    assert entry["task"] == "forecast.tasks.recompute_forecasts"
    assert entry["schedule"] == 900.0
    assert entry["options"]["queue"] == "default"


def test_api_reads_for_any_role_on_the_plant(operator: Client, plant: Plant) -> None:
    response = operator.get(f"/api/v1/plants/{plant.pk}/forecast")
    assert response.status_code == 200
    body = response.json()
    assert body["plant_id"] == plant.pk
    assert len(body["slots"]) == 144
    assert set(body["slots"][0]) == {"start", "pv_w", "load_w"}
    assert body["inputs"]["location_source"] == "time zone"
    assert body["inputs"]["generator_peak_w"] == 8000.0
    assert body["pv_source"] == "clear-sky"
    start = dt.datetime.fromisoformat(body["slots"][0]["start"])
    assert start <= timezone.now() < start + dt.timedelta(minutes=15)


def test_api_shows_no_other_plant(operator: Client, other_plant: Plant) -> None:
    assert operator.get(f"/api/v1/plants/{other_plant.pk}/forecast").status_code == 403
    assert operator.get(f"/api/v1/plants/{other_plant.pk}/forecast/location").status_code == 403
    assert operator.get("/api/v1/plants/999999/forecast").status_code == 404
    assert Client().get(f"/api/v1/plants/{other_plant.pk}/forecast").status_code in (401, 403)
    assert not StoredForecast.objects.filter(plant=other_plant).exists()


def put(client: Client, plant: Plant, body: dict) -> Any:
    return client.put(
        f"/api/v1/plants/{plant.pk}/forecast/location", data=json.dumps(body), content_type="application/json"
    )


def test_installer_sets_the_location_and_the_forecast_follows(installer: Client, plant: Plant) -> None:
    response = put(
        installer, plant, {"latitude_deg": 48.1, "longitude_deg": 11.6, "pv_tilt_deg": 30, "pv_azimuth_deg": 180}
    )
    assert response.status_code == 200
    assert response.json() == {
        "latitude_deg": 48.1,
        "longitude_deg": 11.6,
        "pv_tilt_deg": 30.0,
        "pv_azimuth_deg": 180.0,
    }
    inputs = installer.get(f"/api/v1/plants/{plant.pk}/forecast").json()["inputs"]
    assert inputs["location_source"] == "plant"
    assert (inputs["latitude_deg"], inputs["tilt_deg"]) == (48.1, 30.0)
    # Back to unknown.
    assert put(installer, plant, {"latitude_deg": None, "longitude_deg": None}).status_code == 200
    plant.refresh_from_db()
    assert plant.latitude_deg is None and plant.pv_tilt_deg == 30.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latitude_deg": 91, "longitude_deg": 10}, "latitude_deg"),
        ({"latitude_deg": 50, "longitude_deg": -200}, "longitude_deg"),
        ({"latitude_deg": 50, "longitude_deg": None}, "non_field_errors"),
        ({"latitude_deg": 50, "longitude_deg": 10, "pv_tilt_deg": 120}, "pv_tilt_deg"),
        ({"latitude_deg": "north", "longitude_deg": 10}, "latitude_deg"),
    ],
)
def test_a_bad_location_is_refused_and_changes_nothing(installer: Client, plant: Plant, body: dict, field: str) -> None:
    response = put(installer, plant, body)
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    plant.refresh_from_db()
    assert (plant.latitude_deg, plant.longitude_deg, plant.pv_tilt_deg) == (None, None, None)


def test_operator_may_not_set_the_location(operator: Client, plant: Plant) -> None:
    assert put(operator, plant, {"latitude_deg": 48.1, "longitude_deg": 11.6}).status_code == 403
    response = operator.post(f"/forecast/?plant={plant.pk}", {"latitude_deg": "48.1", "longitude_deg": "11.6"})
    assert response.status_code == 403
    plant.refresh_from_db()
    assert plant.latitude_deg is None


def test_dashboard_shows_the_forecast_card(operator: Client, plant: Plant) -> None:
    html = operator.get("/", {"plant": plant.pk}).content.decode()
    assert 'data-testid="forecast-chart"' in html
    assert f'data-forecast-url="/api/plants/{plant.pk}/forecast"' in html
    assert "js/forecast.js" in html


def test_page_says_the_location_is_guessed_and_installer_sets_it(installer: Client, plant: Plant) -> None:
    html = installer.get("/forecast/", {"plant": plant.pk}).content.decode()
    assert 'data-source="time zone"' in html
    assert "no location set" in html and "Europe/Berlin" in html
    response = installer.post(
        f"/forecast/?plant={plant.pk}",
        {"latitude_deg": "48.1", "longitude_deg": "11.6", "pv_tilt_deg": "", "pv_azimuth_deg": ""},
    )
    assert response.status_code == 302
    html = installer.get("/forecast/", {"plant": plant.pk}).content.decode()
    assert 'data-source="plant"' in html and "48.10° N, 11.60° E" in html


def test_page_refuses_half_a_location(installer: Client, plant: Plant) -> None:
    response = installer.post(f"/forecast/?plant={plant.pk}", {"latitude_deg": "48.1", "longitude_deg": ""})
    assert response.status_code == 400
    assert "latitude and longitude together" in response.content.decode()
    plant.refresh_from_db()
    assert plant.latitude_deg is None


def test_curtailed_intervals_are_left_out_so_the_forecast_learns_the_available_pv(plant: Plant) -> None:
    """A plant curtailed every noon: the log's noon shows the limit, not the sun. Marked as
    curtailed (the averager's flag), those intervals no longer pull the noon forecast down."""
    write_log(plant, days=7, pv_share=0.9, house_w=400.0)
    zone = dt.timezone(dt.timedelta(hours=2))
    noon = [row for row in MeterLog.objects.filter(plant=plant) if 10 <= row.start.astimezone(zone).hour < 14]
    for row in noon:
        row.pv_power_w = min(row.pv_power_w or 0.0, 3000.0)  # held at the feed-in limit
    MeterLog.objects.bulk_update(noon, ["pv_power_w"])
    unmarked, _ = services.compute(plant, NOW)
    assert unmarked.pv_ratios[1] < 0.75  # the weakness: the noon band learns the limit
    MeterLog.objects.filter(pk__in=[row.pk for row in noon]).update(curtailed=True)
    marked, _ = services.compute(plant, NOW)
    assert marked.pv_ratios[1] == pytest.approx(0.9, abs=0.05)
