"""People and their per-plant roles over the API (ACC-3): the people page's rules, installers only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from plant.models import Plant
from portal.models import Membership

URL = "/api/v1/people/"


@pytest.fixture
def plants(db: None) -> tuple[Plant, Plant]:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin"), Plant.objects.create(name="Barn")


def post(client: Client, body: object):
    return client.post(URL, body, content_type="application/json")


def test_create_list_change_and_remove_a_person(user_client: Client, plants: tuple[Plant, Plant]) -> None:
    home, barn = plants
    created = post(user_client, {"username": "anna", "password": "Good-Pass-12", "roles": {str(home.pk): "operator"}})
    assert created.status_code == 201, created.content
    person = created.json()
    assert person["username"] == "anna" and person["roles"] == {str(home.pk): "operator"}
    assert Client().login(username="anna", password="Good-Pass-12"), "she can log in with it"

    listed = user_client.get(URL).json()
    assert [p["username"] for p in listed] == ["anna"], "neither the device account nor superusers"

    url = f"{URL}{person['id']}"
    changed = user_client.patch(url, {"roles": {str(barn.pk): "installer"}}, content_type="application/json")
    assert changed.json()["roles"] == {str(home.pk): "operator", str(barn.pk): "installer"}
    changed = user_client.patch(url, {"roles": {str(home.pk): ""}}, content_type="application/json")
    assert changed.json()["roles"] == {str(barn.pk): "installer"}
    user_client.patch(url, {"new_password": "Other-Pass-34"}, content_type="application/json")
    assert Client().login(username="anna", password="Other-Pass-34")

    assert user_client.delete(url).status_code == 204
    assert not get_user_model().objects.filter(username="anna").exists()
    assert user_client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"username": "bob", "password": "short", "roles": {"PLANT": "operator"}}, "password", "at least 8"),
        ({"username": "bob", "password": "Good-Pass-12", "roles": {}}, "roles", "role on at least one plant"),
        ({"username": "bob", "password": "Good-Pass-12", "roles": {"PLANT": "boss"}}, "roles", "no role"),
        (
            {"username": "bob", "password": "Good-Pass-12", "roles": {"999": "operator"}},
            "roles",
            "No plant with id 999",
        ),
        ({"username": "b o b", "password": "Good-Pass-12", "roles": {"PLANT": "operator"}}, "username", ""),
        ({"username": "someone", "password": "Good-Pass-12", "roles": {"PLANT": "operator"}}, "username", "taken"),
    ],
)
def test_a_refused_person_names_the_field_and_nothing_is_created(
    user_client: Client, plants: tuple[Plant, Plant], body: dict, field: str, words: str
) -> None:
    roles = {(str(plants[0].pk) if k == "PLANT" else k): v for k, v in body["roles"].items()}
    before = get_user_model().objects.count()
    response = post(user_client, {**body, "roles": roles})
    assert response.status_code == 400
    assert field in response.json() and words in " ".join(response.json()[field])
    assert get_user_model().objects.count() == before


def test_an_operator_may_not_manage_people(plants: tuple[Plant, Plant]) -> None:
    operator = get_user_model().objects.create_user("op", password="Good-Pass-12")
    Membership.objects.create(user=operator, plant=plants[0], role=Membership.Role.OPERATOR)
    client = Client()
    client.force_login(operator)
    assert client.get(URL).status_code == 403
    assert (
        post(
            client, {"username": "x", "password": "Good-Pass-12", "roles": {str(plants[0].pk): "installer"}}
        ).status_code
        == 403
    )
    assert client.delete(f"{URL}{operator.pk}").status_code == 403


def test_nobody_removes_themselves(plants: tuple[Plant, Plant]) -> None:
    installer = get_user_model().objects.create_user("inst", password="Good-Pass-12")
    Membership.objects.create(user=installer, plant=plants[0], role=Membership.Role.INSTALLER)
    Membership.objects.create(user=installer, plant=plants[1], role=Membership.Role.INSTALLER)
    client = Client()
    client.force_login(installer)
    response = client.delete(f"{URL}{installer.pk}")
    assert response.status_code == 400 and "yourself" in response.json()["detail"]


def test_people_are_in_the_schema(user_client: Client, plants: tuple[Plant, Plant]) -> None:
    paths = user_client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/people/" in paths and "/api/v1/people/{person_id}" in paths
