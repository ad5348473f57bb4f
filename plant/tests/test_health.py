"""/api/health and the header's device status, read from the snapshot through its types."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

import redisconn
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from plant import live
from plant.models import Plant
from tests.pages import by_testid, publish

pytestmark = pytest.mark.django_db


def snapshot(plant: Plant, *, age_s: float = 0.0, meter: DeviceStatus | None = None) -> PlantState:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
    return PlantState(
        plant_id=plant.pk,
        timestamp=now,
        sequence=1,
        meter=None,
        meter_status=meter or DeviceStatus(name="meter", online=True, last_seen=now),
        flow=EnergyFlow(grid_power_w=None, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                        house_power_w=None, wallbox_power_w=None),
        totals=EnergyCounters(),
        cycle_duration_s=0.012,
    )  # fmt: skip


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


def test_health_is_ok_with_a_fresh_cycle_and_meter(client: Client, plant: Plant) -> None:
    live.mark_tick()
    publish(snapshot(plant))

    response = client.get("/api/health")

    assert response.status_code == 200
    (reported,) = response.json()["plants"]
    assert reported["cycle"]["ok"] and reported["cycle"]["duration_s"] == 0.012
    assert reported["meter"]["online"] and reported["meter"]["last_sample_age_s"] < 5


def test_health_names_an_offline_meter_and_since_when(user_client: Client, plant: Plant) -> None:
    live.mark_tick()
    since = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    publish(snapshot(plant, meter=DeviceStatus(name="meter", online=False, offline_since=since, error="timeout")))

    response = user_client.get("/api/health")

    assert response.status_code == 503
    meter = response.json()["plants"][0]["meter"]
    assert meter["online"] is False
    assert meter["error"] == "timeout"
    assert dt.datetime.fromisoformat(meter["offline_since"]) == since


def test_a_snapshot_that_does_not_validate_is_no_cycle(user_client: Client, plant: Plant) -> None:
    live.mark_tick()
    redisconn.sync_redis().set(live.state_key(plant.pk), b'{"plant_id": "not a number"}')

    response = user_client.get("/api/health")

    assert response.status_code == 503
    reported = response.json()["plants"][0]
    assert reported["cycle"]["ok"] is False
    assert reported["meter"]["error"] == "no cycle has run yet"


def test_anonymous_health_says_what_is_down_but_not_the_error_text(client: Client, plant: Plant) -> None:
    live.mark_tick()
    publish(snapshot(plant, meter=DeviceStatus(name="meter", online=False, error="no answer from 10.0.0.9:502")))

    response = client.get("/api/health")

    assert response.status_code == 503
    (reported,) = response.json()["plants"]
    assert reported["meter"]["ok"] is False and reported["meter"]["online"] is False
    assert "10.0.0.9" not in response.content.decode() and "error" not in reported["meter"]


def test_header_shows_the_meter_error_of_the_snapshot(user_client: Client, plant: Plant) -> None:
    publish(snapshot(plant, meter=DeviceStatus(name="meter", online=False, error="no answer from 10.0.0.9:502")))

    page = user_client.get(reverse("plant:dashboard")).content.decode()

    text, attributes = by_testid(page, "device-status")
    assert attributes["data-state"] == "error"
    assert "no answer from 10.0.0.9:502" in text


def test_header_says_error_when_the_cycle_stopped(user_client: Client, plant: Plant) -> None:
    publish(snapshot(plant, age_s=600))

    page = user_client.get(reverse("plant:overview")).content.decode()

    text, attributes = by_testid(page, "device-status")
    assert attributes["data-state"] == "error"
    assert "No cycle for" in text
