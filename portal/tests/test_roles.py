"""People and roles per plant (ACC-4): installers change everything, operators charging and tariffs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from plant.models import Plant
from portal import roles
from portal.models import Membership
from portal.services import ensure_device_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def plants() -> tuple[Plant, Plant]:
    return Plant.objects.create(name="Home"), Plant.objects.create(name="Barn")


def person(name: str, **memberships: str) -> Any:
    user = get_user_model().objects.create_user(name, password="Person-Pass-1")
    for plant_name, role in memberships.items():
        Membership.objects.create(user=user, plant=Plant.objects.get(name=plant_name), role=role)
    return get_user_model().objects.get(pk=user.pk)


def client_of(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_roles_and_what_they_may_change(plants: tuple[Plant, Plant]) -> None:
    home, barn = plants
    ensure_device_user()
    device = get_user_model().objects.get(username="installer")
    superuser = get_user_model().objects.create_superuser("root", password="Root-Pass-1")
    mixed = person("mia", Home=roles.INSTALLER, Barn=roles.OPERATOR)
    operator = person("otto", Home=roles.OPERATOR)
    nobody = person("nora")

    table = [
        # user, plant, role, settings, charging, tariffs
        (device, home, roles.INSTALLER, True, True, True),
        (device, None, roles.INSTALLER, True, True, True),
        (superuser, barn, roles.INSTALLER, True, True, True),
        (mixed, home, roles.INSTALLER, True, True, True),
        (mixed, barn.pk, roles.OPERATOR, False, True, True),
        (mixed, None, roles.OPERATOR, False, True, True),
        (operator, home, roles.OPERATOR, False, True, True),
        (operator, barn, None, False, False, False),
        (nobody, home, None, False, False, False),
        (nobody, None, None, False, False, False),
        (AnonymousUser(), home, None, False, False, False),
        (None, home, None, False, False, False),
    ]
    for user, plant, role, settings_ok, charging_ok, tariffs_ok in table:
        assert roles.role_of(user, plant) == role, (user, plant)
        assert roles.may_change(user, plant, roles.SETTINGS) is settings_ok, (user, plant)
        assert roles.may_change(user, plant, roles.CHARGING) is charging_ok, (user, plant)
        assert roles.may_change(user, plant, roles.TARIFFS) is tariffs_ok, (user, plant)


def test_an_installer_on_every_plant_is_an_installer_of_the_device(plants: tuple[Plant, Plant]) -> None:
    assert roles.role_of(person("ina", Home=roles.INSTALLER, Barn=roles.INSTALLER), None) == roles.INSTALLER


def test_an_unknown_area_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown area"):
        roles.may_change(AnonymousUser(), None, "everything")
    with pytest.raises(ValueError, match="unknown area"):
        roles.require("everything")


def test_without_a_plant_resolver_a_page_refuses_instead_of_skipping_its_check(
    plants: tuple[Plant, Plant], monkeypatch: pytest.MonkeyPatch
) -> None:
    """portal sits below plant and is handed the resolver at start; should that ever not happen,
    a page must not serve another plant's data because it could not tell which plant it is about."""
    home, _barn = plants
    client = client_of(person("nora"))
    client.raise_request_exception = True
    assert client.get(reverse("inverters:list") + f"?plant={home.pk}").status_code == 403
    monkeypatch.setattr(roles, "_request_plant", None)
    with pytest.raises(ImproperlyConfigured, match="no plant resolver"):
        client.get(reverse("inverters:list") + f"?plant={home.pk}")


def test_operator_reads_installer_pages_but_gets_403_on_their_changes(plants: tuple[Plant, Plant]) -> None:
    home, _barn = plants
    client = client_of(person("otto", Home=roles.OPERATOR, Barn=roles.OPERATOR))

    assert client.get(reverse("inverters:list") + f"?plant={home.pk}").status_code == 200
    assert client.get(reverse("modbus:settings")).status_code == 200
    assert client.get(reverse("inverters:add") + f"?plant={home.pk}").status_code == 200

    refused = client.post(reverse("inverters:add") + f"?plant={home.pk}", {"name": "Roof", "type": "plenticore"})
    assert refused.status_code == 403
    assert "this change needs an installer" in refused.content.decode()
    assert client.post(reverse("modbus:slave"), {"enabled": "on"}).status_code == 403
    assert client.post(reverse("inverters:power-settings") + f"?plant={home.pk}", {}).status_code == 403


def test_operator_may_change_tariffs(plants: tuple[Plant, Plant]) -> None:
    home, _barn = plants
    client = client_of(person("otto", Home=roles.OPERATOR))

    response = client.post(
        reverse("tariffs:contract") + f"?plant={home.pk}", {"currency": "EUR", "time_zone": "Europe/Berlin"}
    )

    assert response.status_code == 302
    assert "Contract information saved." in client.get(response["Location"]).content.decode()


def test_operator_of_one_plant_may_not_change_tariffs_of_another(plants: tuple[Plant, Plant]) -> None:
    _home, barn = plants
    client = client_of(person("otto", Home=roles.OPERATOR))
    response = client.post(
        reverse("tariffs:contract") + f"?plant={barn.pk}", {"currency": "EUR", "time_zone": "Europe/Berlin"}
    )
    assert response.status_code == 403


def test_installer_of_one_plant_cannot_change_device_wide_modbus_settings(plants: tuple[Plant, Plant]) -> None:
    client = client_of(person("ina", Home=roles.INSTALLER))
    assert client.post(reverse("modbus:slave"), {}).status_code == 403


def test_an_operator_is_refused_on_every_installer_post_view() -> None:
    """Every page view that changes settings declares its area."""
    from django.urls import get_resolver

    guarded: dict[str, str] = {}

    def walk(patterns: Any, prefix: str = "") -> None:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + (pattern.namespace + ":" if pattern.namespace else ""))
            else:
                area = getattr(pattern.callback, "required_area", None)
                if area:
                    guarded[prefix + str(pattern.name)] = area

    walk(get_resolver().url_patterns)
    expected = {
        "inverters:add": "settings", "inverters:edit": "settings", "inverters:delete": "settings",
        "inverters:battery": "settings", "inverters:power-settings": "settings",
        "modbus:slave": "settings", "modbus:master": "settings", "modbus:serial": "settings",
        "modbus:add-target": "settings", "modbus:delete-target": "settings",
        "modbus:accept-certificate": "settings", "modbus:delete-certificate": "settings", "modbus:import": "settings",
        "tariffs:contract": "tariffs", "tariffs:edit": "tariffs", "tariffs:import-prices": "tariffs",
        "tariffs:price-source": "tariffs",
        "portal:person_add": "settings", "portal:person_edit": "settings", "portal:person_remove": "settings",
    }  # fmt: skip
    missing = {name: area for name, area in expected.items() if guarded.get(name) != area}
    assert not missing, f"not guarded: {missing}"


# --- the people page -----------------------------------------------------------------------------


def test_installer_adds_a_person_with_a_role_per_plant_who_can_then_log_in(plants: tuple[Plant, Plant]) -> None:
    home, barn = plants
    client = client_of(get_user_model().objects.create_superuser("root", password="Root-Pass-1"))

    response = client.post(
        reverse("portal:person_add"),
        {"username": "olga", "password": "Olga-Pass-1", f"role_{home.pk}": "operator", f"role_{barn.pk}": ""},
    )

    assert response.status_code == 302
    olga = get_user_model().objects.get(username="olga")
    assert roles.role_of(olga, home) == roles.OPERATOR and roles.role_of(olga, barn) is None
    assert not olga.is_staff and not olga.is_superuser, "the Django admin stays for installers"
    page = client.get(reverse("portal:people")).content.decode()
    assert "olga" in page and "Olga-Pass-1" not in page
    login = Client().post(reverse("portal:login"), {"username": "olga", "password": "Olga-Pass-1"})
    assert login.status_code == 302


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "olga", "password": "short"}, "too short"),
        ({"username": "olga", "password": "nouppercase1"}, "must mix upper-case and lower-case"),
        ({"username": "installer", "password": "Good-Pass-1"}, "The user name installer is taken."),
        ({"username": "bad name!", "password": "Good-Pass-1"}, "Enter a valid username"),
        (
            {"username": "olga", "password": "Good-Pass-1", "no_role": "1"},
            "Give the person a role on at least one plant.",
        ),
    ],
)
def test_adding_a_person_refuses_bad_input_and_changes_nothing(
    plants: tuple[Plant, Plant], data: dict[str, str], message: str
) -> None:
    home, _barn = plants
    client = client_of(get_user_model().objects.create_superuser("root", password="Root-Pass-1"))
    form = dict(data)
    if not form.pop("no_role", None):
        form[f"role_{home.pk}"] = "installer"
    response = client.post(reverse("portal:person_add"), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert get_user_model().objects.count() == 1


def test_installer_changes_a_role_and_removes_a_person(plants: tuple[Plant, Plant]) -> None:
    home, barn = plants
    client = client_of(get_user_model().objects.create_superuser("root", password="Root-Pass-1"))
    olga = person("olga", Home=roles.OPERATOR)
    olga_client = client_of(olga)

    response = client.post(
        reverse("portal:person_edit", args=[olga.pk]), {f"role_{home.pk}": "installer", f"role_{barn.pk}": "operator"}
    )
    assert response.status_code == 302
    assert dict(Membership.objects.filter(user=olga).values_list("plant__name", "role")) == {
        "Home": "installer", "Barn": "operator"
    }  # fmt: skip

    assert client.post(reverse("portal:person_remove", args=[olga.pk])).status_code == 302
    assert not get_user_model().objects.filter(username="olga").exists()
    assert olga_client.get(reverse("plant:dashboard")).status_code == 302, "the removed person's session ended"


def test_operator_may_not_manage_people(plants: tuple[Plant, Plant]) -> None:
    home, _barn = plants
    client = client_of(person("otto", Home=roles.OPERATOR, Barn=roles.OPERATOR))
    assert client.get(reverse("portal:people")).status_code == 200, "reading is allowed (a role on every plant)"
    response = client.post(
        reverse("portal:person_add"), {"username": "eve", "password": "Eve-Pass-1", f"role_{home.pk}": "installer"}
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="eve").exists()
    root = get_user_model().objects.create_superuser("root", password="Root-Pass-1")
    assert client.post(reverse("portal:person_remove", args=[root.pk])).status_code in (403, 404)
    assert get_user_model().objects.filter(username="root").exists()


def test_the_device_account_and_superusers_are_not_on_the_people_page(plants: tuple[Plant, Plant]) -> None:
    ensure_device_user()
    root = get_user_model().objects.create_superuser("root", password="Root-Pass-1")
    client = client_of(root)
    device = get_user_model().objects.get(username="installer")
    assert client.get(reverse("portal:person_edit", args=[device.pk])).status_code == 404
    assert client.post(reverse("portal:person_remove", args=[root.pk])).status_code == 404
