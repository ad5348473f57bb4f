"""The installation position over the API (ACC-3, MET-6): installers change it, validated."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from inverters.models import PowerSettings
from plant.models import Plant
from portal.models import Membership


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def url(plant: Plant) -> str:
    return f"/api/v1/plants/{plant.pk}/installation-position"


def put(client: Client, plant: Plant, value: object):
    return client.put(url(plant), {"installation_position": value}, content_type="application/json")


def test_read_and_change_it(user_client: Client, plant: Plant) -> None:
    assert user_client.get(url(plant)).json() == {"installation_position": "grid"}
    assert put(user_client, plant, "home").json() == {"installation_position": "home"}
    plant.refresh_from_db()
    assert plant.installation_position == "home"
    assert user_client.get("/api/v1/plants/").json()["results"][0]["installation_position"] == "home"


def test_a_bad_value_is_refused_naming_the_field(user_client: Client, plant: Plant) -> None:
    response = put(user_client, plant, "roof")
    assert response.status_code == 400 and list(response.json()) == ["installation_position"]
    plant.refresh_from_db()
    assert plant.installation_position == "grid"


def test_home_is_refused_while_feed_in_limitation_is_on(user_client: Client, plant: Plant) -> None:
    PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=True)
    response = put(user_client, plant, "home")
    assert response.status_code == 400
    assert response.json()["installation_position"] == [
        "Switch off feed-in limitation first: it needs the meter at the grid connection point."
    ]
    plant.refresh_from_db()
    assert plant.installation_position == "grid"


def test_an_operator_reads_it_but_cannot_change_it(plant: Plant) -> None:
    user = get_user_model().objects.create_user("op", password="Good-Pass-12")
    Membership.objects.create(user=user, plant=plant, role=Membership.Role.OPERATOR)
    client = Client()
    client.force_login(user)
    assert client.get(url(plant)).status_code == 200
    assert put(client, plant, "home").status_code == 403


def test_it_is_in_the_schema(user_client: Client, plant: Plant) -> None:
    paths = user_client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/plants/{plant_id}/installation-position" in paths
