"""An installer points a plant at its meter in the admin; bad values are refused and change nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from meter.models import Meter
from plant.models import Plant

pytestmark = pytest.mark.django_db


@pytest.fixture
def installer(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_superuser("installer", password="Secret-Pass-1"))
    return client


def form(plant: Plant, **meter: str) -> dict[str, str]:
    data = {
        "name": plant.name, "time_zone": plant.time_zone, "installation_position": "grid", "is_active": "on",
        "meter-TOTAL_FORMS": "1", "meter-INITIAL_FORMS": "1", "meter-MIN_NUM_FORMS": "0", "meter-MAX_NUM_FORMS": "1",
        "meter-0-id": str(plant.meter.pk), "meter-0-plant": str(plant.pk), "meter-0-driver": "ksem_tcp",
        "meter-0-host": "192.0.2.10", "meter-0-port": "502", "meter-0-unit_id": "71", "meter-0-timeout_s": "0.5",
        "meter-0-read_flow_summary": "on", "meter-0-baudrate": "9600", "meter-0-parity": "N", "meter-0-stopbits": "1",
        "options-TOTAL_FORMS": "0", "options-INITIAL_FORMS": "0", "options-MIN_NUM_FORMS": "0", "options-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    data.update({f"meter-0-{key}": value for key, value in meter.items()})
    return data


@pytest.fixture
def plant() -> Plant:
    plant = Plant.objects.create(name="Home")
    Meter.objects.create(plant=plant)
    return plant


def test_installer_sets_the_meter_address_on_the_plant_page(installer: Client, plant: Plant):
    page = installer.get(f"/admin/plant/plant/{plant.pk}/change/")
    assert page.status_code == 200
    assert b"unit id" in page.content.lower()
    response = installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant))
    assert response.status_code == 302
    installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant, host="ksem-1.local"))
    assert Meter.objects.get(plant=plant).host == "ksem-1.local"
    response = installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant, host="fd00::15"))
    assert response.status_code == 302
    meter = Meter.objects.get(plant=plant)
    assert (meter.host, meter.port, meter.unit_id) == ("fd00::15", 502, 71)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", "70000"), ("unit_id", "0"), ("unit_id", "248"), ("timeout_s", "0"), ("timeout_s", "2.5"),
        ("host", "not a host!"), ("host", "-bad.example"), ("host", ""),
    ],
)  # fmt: skip
def test_out_of_range_meter_settings_are_refused(installer: Client, plant: Plant, field: str, value: str):
    response = installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant, **{field: value}))
    assert response.status_code == 200, "the form comes back with the error"
    assert response.context["inline_admin_formsets"][0].formset.errors[0][field]
    meter = Meter.objects.get(plant=plant)
    assert (meter.host, meter.port, meter.unit_id, meter.timeout_s) == ("127.0.0.1", 15020, 1, 0.5), "nothing changed"


def test_unknown_time_zone_is_refused(installer: Client, plant: Plant):
    data = form(plant)
    data["time_zone"] = "Mars/Olympus"
    response = installer.post(f"/admin/plant/plant/{plant.pk}/change/", data)
    assert response.status_code == 200
    assert "not a known time zone" in str(response.context["adminform"].form.errors["time_zone"])
    assert Plant.objects.get(pk=plant.pk).time_zone == "Europe/Berlin"


def test_the_ct_ratio_offers_the_common_ratios_and_takes_any_other(installer: Client, plant: Plant):
    page = installer.get(f"/admin/plant/plant/{plant.pk}/change/").content.decode()
    assert 'list="id_meter-0-ct_primary_a-ratios"' in page
    assert '<option value="100">100/5 A</option>' in page
    response = installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant, ct_primary_a="123"))
    assert response.status_code == 302
    assert Meter.objects.get(plant=plant).ct_primary_a == 123
    refused = installer.post(f"/admin/plant/plant/{plant.pk}/change/", form(plant, ct_primary_a="6000"))
    assert refused.context["inline_admin_formsets"][0].formset.errors[0]["ct_primary_a"]
    assert Meter.objects.get(plant=plant).ct_primary_a == 123, "nothing changed"
