"""Activation codes on the device (ACT-1, WB-1, INV-3): a valid code releases its option and the
menus follow; a random code, a code for another serial and a typing slip are refused with the
reason and change nothing; wrong codes are throttled like passwords; only installers enter codes;
options switched on before codes existed stay on after the upgrade."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from plant.models import Plant, PlantOption
from portal import activation
from portal.models import Membership
from tests.pages import by_testid

pytestmark = pytest.mark.django_db

KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(autouse=True)
def vendor_key(settings: Any) -> None:
    settings.KSEM_ACTIVATION_KEY = KEY


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


def code(plant: Plant, option: str) -> str:
    return activation.code_for(bytes.fromhex(KEY), plant.serial_number, option)


def person(client: Client, plant: Plant, role: str | None, name: str = "person") -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    if role:
        Membership.objects.create(user=user, plant=plant, role=role)
    client.force_login(user)
    return client


def released(plant: Plant) -> set[str]:
    return set(PlantOption.objects.filter(plant=plant, active=True).values_list("option", flat=True))


def test_the_serial_number_is_stable_and_shown(user_client: Client, plant: Plant):
    serial = plant.serial_number
    assert serial.startswith("KSEM-")
    plant.name = "Renamed"
    plant.save()
    plant.refresh_from_db()
    assert plant.serial_number == serial
    page = user_client.get("/activation/").content.decode()
    assert by_testid(page, "serial-number")[0] == serial
    assert Plant.objects.create(name="Other").serial_number != serial


def test_a_valid_code_releases_the_wallbox_and_its_menu_appears(user_client: Client, plant: Plant):
    assert 'data-testid="menu-wallbox"' not in user_client.get("/").content.decode()
    assert user_client.get("/wallbox/").status_code == 404
    response = user_client.post("/activation/", {"code": code(plant, "wallbox")})
    assert response.status_code == 302
    assert released(plant) == {"wallbox"}
    assert PlantOption.objects.get(plant=plant).source == "code"
    page = user_client.get("/activation/").content.decode()
    assert "Released: Wallbox convenience functions" in page
    assert 'data-option="wallbox" data-active="true"' in page
    assert 'data-option="battery_management" data-active="false"' in page
    assert 'data-testid="menu-wallbox"' in user_client.get("/").content.decode()
    assert user_client.get("/wallbox/").status_code == 200


def test_the_battery_code_unlocks_battery_management_for_a_piko_mp_plus(user_client: Client, plant: Plant):
    body = {"battery_management_enabled": True}
    refused = user_client.put(f"/api/plants/{plant.pk}/power-settings", body, content_type="application/json")
    assert refused.status_code == 400 and "activation code" in refused.json()["battery_management_enabled"][0]
    answer = user_client.post(
        f"/api/plants/{plant.pk}/activation-codes",
        {"code": code(plant, "battery_management")},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["released"] == "battery_management"
    accepted = user_client.put(f"/api/plants/{plant.pk}/power-settings", body, content_type="application/json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["battery_management_unlocked"] is True


@pytest.mark.parametrize(
    ("typed", "words"),
    [("0000000000", "not valid for serial number"), ("12345", "exactly 10 digits"), ("", "required")],
)
def test_wrong_codes_are_refused_with_the_reason_and_change_nothing(user_client: Client, plant: Plant, typed, words):
    response = user_client.post("/activation/", {"code": typed})
    assert response.status_code == 400
    assert words in by_testid(response.content.decode(), "error-code")[0]
    assert released(plant) == set()


def test_a_code_for_another_serial_is_refused(user_client: Client, plant: Plant):
    other = Plant.objects.create(name="Neighbour")
    response = user_client.post(
        f"/api/plants/{plant.pk}/activation-codes", {"code": code(other, "wallbox")}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "invalid"
    assert plant.serial_number in response.json()["code"][0]
    assert released(plant) == set() and released(other) == set()


def test_wrong_codes_are_throttled_like_passwords(user_client: Client, plant: Plant, settings: Any):
    settings.LOGIN_FAILURES_ALLOWED = 3
    url = f"/api/plants/{plant.pk}/activation-codes"
    for _ in range(3):
        assert user_client.post(url, {"code": "1111111111"}, content_type="application/json").status_code == 400
    locked = user_client.post(url, {"code": code(plant, "wallbox")}, content_type="application/json")
    assert locked.status_code == 429
    assert locked.json()["reason"] == "locked"
    assert released(plant) == set()  # even the right code waits


def test_without_a_vendor_key_the_device_says_so(user_client: Client, plant: Plant, settings: Any):
    settings.KSEM_ACTIVATION_KEY = ""
    response = user_client.post(
        f"/api/plants/{plant.pk}/activation-codes", {"code": "1234567890"}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["reason"] == "no_key"


def test_operators_see_the_options_but_only_installers_enter_codes(client: Client, plant: Plant):
    operator = person(client, plant, "operator")
    assert operator.get("/activation/").status_code == 200
    assert 'data-testid="activation-form"' not in operator.get("/activation/").content.decode()
    assert operator.post("/activation/", {"code": code(plant, "wallbox")}).status_code == 403
    api = operator.post(
        f"/api/plants/{plant.pk}/activation-codes", {"code": code(plant, "wallbox")}, content_type="application/json"
    )
    assert api.status_code == 403
    listed = operator.get(f"/api/plants/{plant.pk}/activation-codes").json()
    assert listed["serial_number"] == plant.serial_number
    assert [o["option"] for o in listed["options"]] == ["wallbox", "battery_management"]
    assert released(plant) == set()


def test_a_person_without_a_role_on_the_plant_sees_nothing(client: Client, plant: Plant):
    other = Plant.objects.create(name="Other")
    stranger = person(client, other, "installer", "stranger")
    assert stranger.get(f"/api/plants/{plant.pk}/activation-codes").status_code == 403
    response = stranger.post(
        f"/api/plants/{plant.pk}/activation-codes", {"code": code(plant, "wallbox")}, content_type="application/json"
    )
    assert response.status_code == 403
    assert released(plant) == set()


def test_the_admin_cannot_switch_options_any_more(user_client: Client, plant: Plant):
    page = user_client.get(f"/admin/plant/plant/{plant.pk}/change/").content.decode()
    assert plant.serial_number in page
    assert 'name="options-0-active"' not in page


def test_the_vendor_command_issues_the_code_the_device_accepts(plant: Plant, capsys: Any):
    call_command("issue_activation_code", "--serial", plant.serial_number, "--option", "wallbox")
    issued = capsys.readouterr().out.strip()
    assert issued == code(plant, "wallbox")


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_options_switched_on_before_the_upgrade_stay_on():
    before = [("plant", "0002_plantoption"), ("inverters", "0001_initial")]
    old = migrate(before)
    plants = old.get_model("plant", "Plant").objects
    home, shed, plain = plants.create(name="Home"), plants.create(name="Shed"), plants.create(name="Plain")
    old.get_model("plant", "PlantOption").objects.create(plant=home, option="wallbox", active=True)
    power = old.get_model("inverters", "PowerSettings").objects
    power.create(plant=shed, battery_management_unlocked=True)
    power.create(plant=plain, battery_management_unlocked=False)

    executor = MigrationExecutor(connection)
    new = migrate(executor.loader.graph.leaf_nodes())
    rows = set(new.get_model("plant", "PlantOption").objects.values_list("plant__name", "option", "source"))
    assert rows == {("Home", "wallbox", "upgrade"), ("Shed", "battery_management", "upgrade")}
    serials = list(new.get_model("plant", "Plant").objects.values_list("serial_number", flat=True))
    assert len(set(serials)) == 3 and all(s.startswith("KSEM-") for s in serials)
    assert Plant.objects.get(name="Shed").power_settings.battery_management_unlocked is True
    assert Plant.objects.get(name="Plain").power_settings.battery_management_unlocked is False
