"""A plant's inverters and power settings over the JSON API, as a third-party client sees them.

Detection talks to the real simulator on loopback; "nothing answers" is a closed ephemeral port.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest
from django.test import Client

from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, InverterState, PlantState
from inverters.models import Inverter, PowerSettings
from plant.models import Plant
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from tests.pages import publish

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    scenario = scenario_from_dict(
        {
            "battery": None,
            "wallbox": None,
            "inverters": [
                {"name": "roof", "type": "plenticore", "max_ac_w": 10_000, "pv_peak_w": 9_000},
                {"name": "garage", "type": "piko_iq", "max_ac_w": 5_500, "pv_peak_w": 5_000},
            ],
        }
    )
    with run_simulator_in_thread(scenario=scenario) as handle:
        yield handle


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="API plant")


def url(plant: Plant, inverter: Inverter | int | None = None) -> str:
    base = f"/api/plants/{plant.pk}/inverters/"
    if inverter is None:
        return base
    return base + str(inverter if isinstance(inverter, int) else inverter.pk)


def existing(plant: Plant, name: str, type_: str = "piko_iq", **fields) -> Inverter:
    """An inverter saved earlier (detected back then)."""
    defaults = {"max_ac_w": 5_000.0, "host": "192.0.2.10", "serial_number": "S-" + name}
    return Inverter.objects.create(plant=plant, name=name, type=type_, **(defaults | fields))


def test_needs_authentication(client: Client, plant: Plant):
    for path in (url(plant), f"/api/plants/{plant.pk}/power-settings"):
        response = client.get(path)
        assert response.status_code in (401, 403)


def test_an_inverter_that_answers_is_added_with_what_it_told(user_client: Client, plant: Plant, simulator):
    response = user_client.post(
        url(plant),
        {"name": "Roof", "type": "plenticore", "power_class": "10", "host": "127.0.0.1",
         "port": simulator.ports["roof"], "timeout_s": 1.0},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["max_ac_w"] == 10_000, "filled in from the power class"
    assert (body["category"], body["connection"], body["controllable"]) == ("photovoltaic", "tcp", True)
    assert body["info"]["serial"], "the serial number the inverter reported"
    assert body["status"] == "unknown", "no cycle has read it yet"
    saved = Inverter.objects.get(plant=plant)
    assert saved.serial_number == body["info"]["serial"]
    assert saved.detected_at is not None


def test_nothing_answering_is_refused_naming_the_address_and_nothing_is_saved(user_client: Client, plant: Plant):
    port = closed_port()
    response = user_client.post(
        url(plant),
        {"name": "Roof", "type": "piko_iq", "max_ac_w": 5500, "host": "127.0.0.1", "port": port, "timeout_s": 1},
        content_type="application/json",
    )
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert f"No answer from 127.0.0.1:{port} within 1 s" in message
    assert not Inverter.objects.exists()


def test_a_device_of_another_type_is_refused_saying_so(user_client: Client, plant: Plant, simulator):
    port = simulator.ports["roof"]  # a PLENTICORE, which speaks no SunSpec
    response = user_client.post(
        url(plant), {"name": "CI", "type": "piko_ci", "power_class": "30", "host": "127.0.0.1", "port": port},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert f"127.0.0.1:{port} answered, but not as a PIKO CI" in response.json()["non_field_errors"][0]
    assert not Inverter.objects.exists()


def test_a_device_slower_than_its_timeout_is_refused(user_client: Client, plant: Plant, simulator):
    port = simulator.ports["garage"]
    simulator.set_fault("slow", delay_s=1.5, device="garage")
    try:
        response = user_client.post(
            url(plant),
            {"name": "Garage", "type": "piko_iq", "power_class": "5.5", "host": "127.0.0.1", "port": port,
             "timeout_s": 0.3},
            content_type="application/json",
        )  # fmt: skip
    finally:
        simulator.set_fault("none", device="garage")
    assert response.status_code == 400
    assert f"No answer from 127.0.0.1:{port} within 0.3 s" in response.json()["non_field_errors"][0]
    assert not Inverter.objects.exists()


def test_a_sixth_inverter_is_refused(user_client: Client, plant: Plant):
    for i in range(5):
        existing(plant, f"inv {i}")
    response = user_client.post(
        url(plant), {"name": "sixth", "type": "piko_iq", "max_ac_w": 3000, "host": "127.0.0.1"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "at most 5 inverters" in response.json()["non_field_errors"][0]
    assert Inverter.objects.count() == 5


def test_a_second_battery_inverter_is_refused(user_client: Client, plant: Plant):
    existing(plant, "hybrid", "plenticore", with_battery=True)
    response = user_client.post(
        url(plant), {"name": "BI", "type": "plenticore_bi", "power_class": "10", "host": "127.0.0.1"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    message = response.json()["non_field_errors"][0]
    assert "at most one hybrid or battery inverter" in message
    assert "hybrid already is one" in message
    assert not Inverter.objects.filter(name="BI").exists()


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"name": "x", "type": "piko_iq", "host": "127.0.0.1"}, "max_ac_w", "power_class"),
        ({"name": "x", "type": "piko_iq", "host": "127.0.0.1", "max_ac_w": 0}, "max_ac_w", "greater than or equal"),
        ({"name": "x", "type": "piko_iq", "host": "127.0.0.1", "max_ac_w": 1, "timeout_s": 2.5}, "timeout_s", "2.0"),
        ({"name": "x", "type": "piko_iq", "max_ac_w": 1}, "host", "IP address or host name"),
        ({"name": "x", "type": "piko_mp_plus", "max_ac_w": 1, "interface": "C", "address": 1}, "interface", "valid"),
        ({"name": "x", "type": "piko_mp_plus", "max_ac_w": 1, "interface": "A", "address": 248}, "address", "247"),
        ({"name": "x", "type": "sma", "max_ac_w": 1, "host": "h"}, "type", "valid choice"),
        ({"name": "x", "type": "piko_mp_plus", "max_ac_w": 1, "interface": "A", "address": 3, "with_battery": True},
         "with_battery", "activation code"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_field(user_client: Client, plant: Plant, payload, field, words):
    response = user_client.post(url(plant), payload, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert field in body, body
    assert words in " ".join(body[field])
    assert not Inverter.objects.exists()


def test_list_shows_the_order_and_the_live_status(user_client: Client, plant: Plant):
    second = existing(plant, "second", position=2)
    first = existing(plant, "first", "piko_ci", position=1)
    existing(plant, "new", position=3)
    publish(
        PlantState(
            plant_id=plant.pk, timestamp=dt.datetime.now(dt.UTC), sequence=1, meter=None,
            meter_status=DeviceStatus(name="meter", online=True),
            flow=EnergyFlow(grid_power_w=None, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                            house_power_w=None, wallbox_power_w=None),
            totals=EnergyCounters(),
            inverters=(
                InverterState(name="first", type="piko_ci", controllable=False, max_ac_w=5000,
                              status=DeviceStatus(name="first", online=True)),
                InverterState(name="second", type="piko_iq", controllable=True, max_ac_w=5000,
                              status=DeviceStatus(name="second", online=False, error="no answer within 1 s")),
            ),
        )
    )  # fmt: skip
    body = user_client.get(url(plant)).json()["results"]
    assert [i["name"] for i in body] == ["first", "second", "new"]
    assert [(i["status"], i["error"]) for i in body] == [("ok", ""), ("error", "no answer within 1 s"), ("unknown", "")]
    assert body[0]["controllable"] is False
    assert user_client.get(url(plant, second)).json()["info"]["serial"] == "S-second"
    assert user_client.get(url(plant, first)).json()["type_label"] == "PIKO CI"


def test_renaming_needs_no_detection_but_a_new_address_does(user_client: Client, plant: Plant):
    inverter = existing(plant, "roof", host="127.0.0.1", port=closed_port())
    response = user_client.patch(url(plant, inverter), {"name": "Roof south"}, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert Inverter.objects.get().name == "Roof south"

    port = closed_port()
    response = user_client.patch(url(plant, inverter), {"port": port}, content_type="application/json")
    assert response.status_code == 400
    assert f"127.0.0.1:{port}" in response.json()["non_field_errors"][0]
    assert Inverter.objects.get().port != port, "nothing changed"


def test_delete_and_unknown_ids(user_client: Client, plant: Plant):
    inverter = existing(plant, "roof")
    other = Plant.objects.create(name="Other")
    assert user_client.get(url(other, inverter)).status_code == 404, "another plant's inverter is not found here"
    assert user_client.delete(url(plant, inverter)).status_code == 204
    assert not Inverter.objects.exists()
    assert user_client.get(url(plant, 999999)).status_code == 404
    assert user_client.get("/api/plants/999999/inverters/").status_code == 404


def test_power_settings_defaults_and_update(user_client: Client, plant: Plant):
    existing(plant, "a", max_ac_w=6000)
    existing(plant, "b", max_ac_w=4000)
    path = f"/api/plants/{plant.pk}/power-settings"
    body = user_client.get(path).json()
    assert body["feed_in_limit_enabled"] is False
    assert (body["min_soc_pct"], body["max_soc_pct"]) == (5, 100)
    assert body["generator_power_w"] == 10_000
    assert body["algorithm"] == "cluster_v1"

    response = user_client.put(
        path, {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 60}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["limit_w"] == 6000
    assert PowerSettings.objects.get(plant=plant).feed_in_limit_enabled is True


def test_grid_optimised_charging_settings_default_on_and_validated(user_client: Client, plant: Plant):
    existing(plant, "a", max_ac_w=6000)
    path = f"/api/plants/{plant.pk}/power-settings"
    body = user_client.get(path).json()
    assert (body["grid_optimised"], body["full_by"]) == (True, "16:00")
    response = user_client.put(path, {"grid_optimised": False, "full_by": "15:30"}, content_type="application/json")
    assert response.status_code == 200, response.json()
    stored = PowerSettings.objects.get(plant=plant)
    assert (stored.grid_optimised, stored.full_by) == (False, dt.time(15, 30))
    for bad in ("03:00", "half past three"):
        response = user_client.put(path, {"full_by": bad}, content_type="application/json")
        assert response.status_code == 400
        assert "full_by" in response.json()
    assert PowerSettings.objects.get(plant=plant).full_by == dt.time(15, 30)


def test_home_position_refuses_feed_in_limitation_saying_why(user_client: Client, plant: Plant):
    plant.installation_position = "home"
    plant.save()
    existing(plant, "a")
    response = user_client.put(
        f"/api/plants/{plant.pk}/power-settings", {"feed_in_limit_enabled": True}, content_type="application/json"
    )
    assert response.status_code == 400
    (message,) = response.json()["feed_in_limit_enabled"]
    assert "grid connection point" in message
    assert "home-consumption position" in message
    assert not PowerSettings.objects.filter(plant=plant, feed_in_limit_enabled=True).exists()


def test_battery_management_cannot_be_unlocked_over_the_api(user_client: Client, plant: Plant):
    response = user_client.put(
        f"/api/plants/{plant.pk}/power-settings",
        {"battery_management_unlocked": True, "battery_management_enabled": True},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "activation code" in response.json()["battery_management_enabled"][0]
