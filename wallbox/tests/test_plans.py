"""Charging plans over the API and their timeline (issue 19.3): named errors that change nothing,
the roles of the charging area, and a timeline priced from the plant's own tariff."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from plant.models import Plant
from wallbox.models import ChargingPlan, Wallbox
from wallbox.tests.conftest import cheap_before

pytestmark = pytest.mark.django_db


def url(plant: Plant, box: Wallbox) -> str:
    return f"/api/plants/{plant.pk}/wallboxes/{box.pk}/plan"


@pytest.fixture
def box(plant: Plant) -> Wallbox:
    return Wallbox.objects.create(plant=plant, name="Carport", interface="A")


def night_tariff(plant: Plant) -> None:
    """0.35 by day, 0.22 from 22:00 to 06:00 (local), every day."""
    cheap_before(plant, 6, 8)


def test_operator_sets_a_weekly_plan_and_sees_its_timeline_in_the_cheap_hours(operator: Client, plant, box):
    # Departure 12 hours ahead whatever the time of day, the 8 hours before it cheap.
    local_now = timezone.now().astimezone(zoneinfo.ZoneInfo(plant.time_zone))
    departure_hour = (local_now.hour + 12) % 24
    cheap_before(plant, departure_hour, 8)
    departure_text = f"{departure_hour:02d}:00"
    response = operator.put(
        url(plant, box),
        {"target_kwh": 20, "repeat": "weekly", "weekdays": [0, 1, 2, 3, 4, 5, 6], "departure_time": departure_text},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    timeline = response.json()["timeline"]
    assert timeline["active"] and timeline["feasible"]
    assert timeline["needed_wh"] == 20_000
    planned = [s for s in timeline["slots"] if s["power_w"] > 0]
    assert sum(s["power_w"] * 0.25 for s in planned) >= 20_000 - 1
    assert {s["price"] for s in planned} == {0.22}
    assert timeline["cost"] == pytest.approx(sum(s["power_w"] * 0.25 / 1000 * 0.22 for s in planned), abs=0.01)
    departure = dt.datetime.fromisoformat(timeline["departure"])
    assert all(dt.datetime.fromisoformat(s["end"]) <= departure for s in timeline["slots"])
    assert timeline["reason"].startswith(f"charging plan: 20.0 kWh by {departure_text}")
    assert operator.get(url(plant, box)).json()["plan"]["weekdays"] == [0, 1, 2, 3, 4, 5, 6]
    assert operator.patch(url(plant, box), {"target_kwh": 10}, content_type="application/json").status_code == 200
    assert ChargingPlan.objects.get(wallbox=box).target_kwh == 10
    assert operator.delete(url(plant, box)).status_code == 204
    assert operator.get(url(plant, box)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"target_kwh": 20, "repeat": "once", "departure_at": "2020-01-01T07:00:00+01:00"}, "departure_at", "past"),
        ({"target_kwh": 20, "repeat": "once"}, "departure_at", "needs a departure"),
        ({"target_kwh": 500, "repeat": "weekly", "weekdays": [0], "departure_time": "07:00"}, "target_kwh", "150"),
        ({"target_soc_pct": 80, "repeat": "weekly", "weekdays": [0], "departure_time": "07:00"}, "target_soc_pct",
         "not known"),
        ({"target_kwh": 20, "repeat": "weekly", "weekdays": [], "departure_time": "07:00"}, "weekdays", "weekday"),
        ({"target_kwh": 20, "repeat": "weekly", "weekdays": [7], "departure_time": "07:00"}, "weekdays", "0 (Monday)"),
        ({"target_kwh": 20, "repeat": "weekly", "weekdays": [1]}, "departure_time", "departure time"),
    ],
)  # fmt: skip
def test_a_bad_plan_is_400_naming_the_field_and_keeps_the_old_one(operator: Client, plant, box, body, field, words):
    ChargingPlan.objects.create(wallbox=box, target_kwh=5, repeat="weekly", weekdays=[2], departure_time="06:00")
    response = operator.put(url(plant, box), body, content_type="application/json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert words in " ".join(errors[field])
    kept = ChargingPlan.objects.get(wallbox=box)
    assert (kept.target_kwh, kept.weekdays) == (5, [2])


def test_someone_without_a_role_on_the_plant_changes_nothing(plant, box):
    from wallbox.tests.conftest import _person

    stranger = _person("stranger", None, None, Client())
    ChargingPlan.objects.create(wallbox=box, target_kwh=5, repeat="weekly", weekdays=[2], departure_time="06:00")
    assert stranger.get(url(plant, box)).status_code in (403, 404)
    response = stranger.put(url(plant, box), {"target_kwh": 9, "repeat": "weekly", "weekdays": [1],
                                               "departure_time": "07:00"}, content_type="application/json")  # fmt: skip
    assert response.status_code in (403, 404)
    assert ChargingPlan.objects.get(wallbox=box).target_kwh == 5


def test_the_plan_reaches_the_cycle_settings(plant, box):
    from plant.config import load_config

    ChargingPlan.objects.create(
        wallbox=box, target_kwh=12, repeat="once", departure_at=timezone.now() + dt.timedelta(hours=10)
    )
    night_tariff(plant)
    config = load_config(plant.pk)
    plan = config.wallboxes[0].plan
    assert plan is not None and plan.target_wh == 12_000
    assert {s.price for s in plan.slots} == {0.22, 0.35}


def test_the_page_saves_a_plan_shows_its_timeline_and_refuses_a_past_departure(operator: Client, plant, box):
    night_tariff(plant)
    page = f"/wallbox/{box.pk}/plan/"
    response = operator.post(page, {"action": "save", "enabled": "on", "target_kwh": "20", "repeat": "once",
                                    "departure_at": "2020-01-01T07:00"})  # fmt: skip
    assert response.status_code == 400
    assert "The departure lies in the past." in response.content.decode()
    assert not ChargingPlan.objects.exists()
    response = operator.post(page, {"action": "save", "enabled": "on", "target_kwh": "20", "repeat": "weekly",
                                    "weekdays": ["0", "1", "2", "3", "4", "5", "6"], "departure_time": "07:00"})  # fmt: skip
    assert response.status_code == 302
    html = operator.get(f"/wallbox/{box.pk}/").content.decode()
    assert 'data-testid="plan-chart"' in html
    assert "charging plan: 20.0 kWh by 07:00" in html
    assert operator.post(page, {"action": "delete"}).status_code == 302
    assert not ChargingPlan.objects.exists()
