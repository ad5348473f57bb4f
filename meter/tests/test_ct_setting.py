"""The current-transformer ratio on the smart-meter page and in the API (MET-2): the common ratios
in a list plus "other" (primary 1-5000 A on 5 A), installers only, a bad value changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from meter import ct
from meter.models import Meter
from plant.models import Plant
from portal.models import Membership
from tests.pages import by_testid, text_of


@pytest.fixture
def plant(db: None) -> Plant:
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    Meter.objects.create(plant=plant)
    return plant


@pytest.fixture
def operator(plant: Plant) -> Client:
    user = get_user_model().objects.create_user("op", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=Membership.Role.OPERATOR)
    client = Client()
    client.force_login(user)
    return client


def primary(plant: Plant) -> int | None:
    return Meter.objects.get(plant=plant).ct_primary_a


@pytest.mark.parametrize(
    ("choice", "other", "secondary", "expected"),
    [
        ("none", None, None, None),
        ("400", None, None, 400),
        ("other", "333", "5", 333),
        ("other", 5000, 5, 5000),
        ("other", "1", "", 1),
    ],
)
def test_choices_that_are_taken(choice: str, other: object, secondary: object, expected: int | None) -> None:
    assert ct.from_choice(choice, other, secondary) == expected


@pytest.mark.parametrize(
    ("choice", "other", "secondary", "field", "words"),
    [
        ("other", "", "5", "primary_a", "Enter the primary current"),
        ("other", "0", "5", "primary_a", "1-5000 A, not 0 A"),
        ("other", "5001", "5", "primary_a", "1-5000 A, not 5001 A"),
        ("other", "12.5", "5", "primary_a", "whole number"),
        ("other", "100", "1", "secondary_a", "5 A secondary"),
        ("333", None, None, "ct", "Choose a ratio from the list"),
        ("lots", None, None, "ct", "Choose a ratio from the list"),
    ],
)
def test_choices_that_are_refused_name_the_problem(
    choice: str, other: object, secondary: object, field: str, words: str
) -> None:
    with pytest.raises(ct.CtError) as refused:
        ct.from_choice(choice, other, secondary)
    assert refused.value.field == field and words in refused.value.message


def test_the_page_offers_the_list_and_other_and_saves_it(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("meter:smartmeter")).content.decode()
    assert text_of(page, "ct-current") == "No current transformer: the meter measures directly."
    assert '<option value="400">400/5 A</option>' in page and '<option value="other">other</option>' in page

    response = user_client.post(reverse("meter:ct"), {"ct": "other", "primary_a": "333", "secondary_a": "5"})
    assert response.status_code == 302
    assert primary(plant) == 333
    page = user_client.get(reverse("meter:smartmeter")).content.decode()
    assert text_of(page, "ct-current").startswith("The meter measures through current transformers 333/5 A")
    assert "66.6" in text_of(page, "ct-current")
    assert by_testid(page, "ct-primary")[1]["value"] == "333"

    user_client.post(reverse("meter:ct"), {"ct": "400"})
    assert primary(plant) == 400


def test_a_bad_value_on_the_page_changes_nothing_and_says_why(user_client: Client, plant: Plant) -> None:
    user_client.post(reverse("meter:ct"), {"ct": "400"})
    response = user_client.post(reverse("meter:ct"), {"ct": "other", "primary_a": "9000"}, follow=True)
    assert "The current transformer was not changed: The primary current must be 1-5000 A, not 9000 A." in (
        response.content.decode()
    )
    assert primary(plant) == 400


def test_an_operator_sees_it_but_cannot_change_it(operator: Client, plant: Plant) -> None:
    page = operator.get(reverse("meter:smartmeter")).content.decode()
    assert text_of(page, "ct-current") == "No current transformer: the meter measures directly."
    assert 'data-testid="ct-form"' not in page
    assert operator.post(reverse("meter:ct"), {"ct": "400"}).status_code == 403
    assert (
        operator.put(
            f"/api/plants/{plant.pk}/meter/ct", {"primary_a": 400}, content_type="application/json"
        ).status_code
        == 403
    )
    assert primary(plant) is None


def test_the_api_reads_and_changes_it(user_client: Client, plant: Plant) -> None:
    url = f"/api/v1/plants/{plant.pk}/meter/ct"
    body = user_client.get(url).json()
    assert body["primary_a"] is None and body["factor"] == 1.0 and 400 in body["common_primaries_a"]

    body = user_client.put(url, {"primary_a": 750, "secondary_a": 5}, content_type="application/json").json()
    assert body["primary_a"] == 750 and body["factor"] == 150.0 and body["common"] is True
    body = user_client.put(url, {"primary_a": 333}, content_type="application/json").json()
    assert body["common"] is False and primary(plant) == 333
    assert user_client.put(url, {"primary_a": None}, content_type="application/json").json()["factor"] == 1.0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"primary_a": 0}, "primary_a"),
        ({"primary_a": "x"}, "primary_a"),
        ({"primary_a": 100, "secondary_a": 1}, "secondary_a"),
        ({}, "primary_a"),
    ],
)
def test_the_api_refuses_a_bad_value_naming_the_field(
    user_client: Client, plant: Plant, payload: dict, field: str
) -> None:
    user_client.put(f"/api/plants/{plant.pk}/meter/ct", {"primary_a": 400}, content_type="application/json")
    response = user_client.put(f"/api/plants/{plant.pk}/meter/ct", payload, content_type="application/json")
    assert response.status_code == 400 and list(response.json()) == [field]
    assert primary(plant) == 400


def test_it_is_in_the_schema(user_client: Client, plant: Plant) -> None:
    schema = user_client.get("/api/schema/?format=json").json()
    assert "/api/v1/plants/{plant_id}/meter/ct" in schema["paths"]
