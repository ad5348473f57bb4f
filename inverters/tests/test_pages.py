"""Devices -> Inverters and the power-settings form as a person uses them in the browser (server-rendered)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, InverterState, PlantState
from inverters.models import Battery, Inverter, PowerSettings
from inverters.tests.test_api import closed_port
from plant.models import Plant
from plant.options import BATTERY_MANAGEMENT, set_option
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from tests.browser import chromium, page_as, session_cookie_of
from tests.pages import by_testid, publish, text_of
from tests.stack import Stack

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    scenario = scenario_from_dict(
        {"battery": None, "wallbox": None,
         "inverters": [{"name": "carport", "type": "piko_iq", "max_ac_w": 5_500, "pv_peak_w": 5_000}]}
    )  # fmt: skip
    with run_simulator_in_thread(scenario=scenario) as handle:
        yield handle


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


def existing(plant: Plant, name: str, type_: str = "piko_iq", **fields) -> Inverter:
    defaults = {"max_ac_w": 5_500.0, "host": "192.0.2.10", "power_class": "5.5"}
    if type_ == "piko_mp_plus":
        defaults = {"max_ac_w": 3_600.0, "interface": "B", "address": 5, "power_class": "3.6-2"}
    return Inverter.objects.create(plant=plant, name=name, type=type_, **(defaults | fields))


def form_data(**fields) -> dict[str, str]:
    data = {"name": "Carport", "type": "piko_iq", "power_class": "5.5", "max_ac_w": "", "host": "127.0.0.1",
            "port": "1502", "unit_id": "71", "interface": "", "address": "", "timeout_s": "1"}  # fmt: skip
    return data | {key: str(value) for key, value in fields.items()}


def test_menu_leads_to_the_inverters(user_client: Client, plant: Plant):
    page = user_client.get(reverse("plant:dashboard")).content.decode()
    _, link = by_testid(page, "menu-inverters")
    assert link["href"] == "/inverters/"
    page = user_client.get("/inverters/").content.decode()
    assert by_testid(page, "menu-inverters")[1]["aria-current"] == "page"


def test_empty_list_invites_to_add_one(user_client: Client, plant: Plant):
    page = user_client.get("/inverters/").content.decode()
    assert "No inverter has been added yet" in text_of(page, "no-inverters")
    assert by_testid(page, "add-inverter")[1]["href"].startswith("/inverters/add/")


def test_without_a_plant_the_page_says_so(user_client: Client):
    page = user_client.get("/inverters/").content.decode()
    assert "No plant is set up yet" in page


def test_list_shows_type_power_address_live_status_and_info(user_client: Client, plant: Plant):
    roof = existing(plant, "Roof", "plenticore", max_ac_w=10_000, power_class="10", serial_number="90411ABC",
                    hardware_version="0x0102", software_version="01.26.09454", position=1)  # fmt: skip
    ci = existing(plant, "Barn", "piko_ci", max_ac_w=30_000, power_class="30", position=2)
    mp = existing(plant, "Shed", "piko_mp_plus", position=3)
    publish(
        PlantState(
            plant_id=plant.pk, timestamp=dt.datetime.now(dt.UTC), sequence=1, meter=None,
            meter_status=DeviceStatus(name="meter", online=True),
            flow=EnergyFlow(grid_power_w=None, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                            house_power_w=None, wallbox_power_w=None),
            totals=EnergyCounters(),
            inverters=(
                InverterState(name="Roof", type="plenticore", controllable=True, max_ac_w=10_000,
                              status=DeviceStatus(name="Roof", online=True)),
                InverterState(name="Barn", type="piko_ci", controllable=False, max_ac_w=30_000,
                              status=DeviceStatus(name="Barn", online=False, error="connection refused")),
            ),
        )
    )  # fmt: skip
    page = user_client.get("/inverters/").content.decode()

    assert text_of(page, f"inverter-name-{roof.pk}") == "Roof"
    assert "PLENTICORE plus/G3 · 10" in text_of(page, f"inverter-type-{roof.pk}")
    assert text_of(page, f"inverter-power-{roof.pk}") == "10.00 kW"
    assert text_of(page, f"inverter-address-{roof.pk}") == "192.0.2.10:1502 / 71"
    assert text_of(page, f"inverter-address-{mp.pk}") == "RS485 B / 5"
    assert by_testid(page, f"inverter-status-{roof.pk}")[1]["data-status"] == "ok"
    assert "OK" in text_of(page, f"inverter-status-{roof.pk}")
    assert by_testid(page, f"inverter-status-{ci.pk}")[1]["data-status"] == "error"
    assert text_of(page, f"inverter-error-{ci.pk}") == "connection refused"
    assert by_testid(page, f"inverter-status-{mp.pk}")[1]["data-status"] == "unknown"
    assert "set in the PIKO CI itself" in text_of(page, f"monitored-only-{ci.pk}")
    assert text_of(page, f"inverter-serial-{roof.pk}") == "90411ABC"
    assert text_of(page, f"inverter-hardware-{roof.pk}") == "0x0102"
    assert text_of(page, f"inverter-software-{roof.pk}") == "01.26.09454"


def test_add_form_offers_the_power_classes_of_each_type(user_client: Client, plant: Plant):
    response = user_client.get("/inverters/add/")
    assert response.status_code == 200
    page = response.content.decode()
    start = page.index('id="inverter-types"')
    table = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    assert table["plenticore"]["classes"]["10"] == 10_000
    assert table["piko_mp_plus"]["connection"] == "rs485"
    assert table["piko_ci"]["controllable"] is False


def test_an_inverter_that_does_not_answer_is_not_saved(user_client: Client, plant: Plant):
    port = closed_port()
    response = user_client.post("/inverters/add/", form_data(port=port))
    assert response.status_code == 200, "the form comes back"
    assert f"No answer from 127.0.0.1:{port} within 1 s" in text_of(response.content.decode(), "form-error")
    assert not Inverter.objects.exists()


def test_an_inverter_that_answers_is_added(user_client: Client, plant: Plant, simulator):
    response = user_client.post("/inverters/add/", form_data(port=simulator.ports["carport"]))
    assert response.status_code == 302
    inverter = Inverter.objects.get()
    assert (inverter.name, inverter.max_ac_w, inverter.power_class) == ("Carport", 5_500, "5.5")
    assert inverter.serial_number
    page = user_client.get(response["Location"]).content.decode()
    assert "Carport answered and has been added." in page


def test_rules_come_back_on_the_form(user_client: Client, plant: Plant):
    for i in range(5):
        existing(plant, f"inv {i}")
    page = user_client.get("/inverters/").content.decode()
    assert "at most 5 inverters" in text_of(page, "inverter-limit-reached")
    response = user_client.post("/inverters/add/", form_data(name="sixth"))
    assert "at most 5 inverters" in text_of(response.content.decode(), "form-error")
    response = user_client.post("/inverters/add/", form_data(name="inv 0", power_class="", max_ac_w=""))
    page = response.content.decode()
    assert "maximum AC output power" in text_of(page, "error-max_ac_w")
    assert Inverter.objects.count() == 5


def test_edit_without_new_address_needs_no_answer_and_delete_removes(user_client: Client, plant: Plant):
    inverter = existing(plant, "Roof", host="127.0.0.1", port=closed_port())
    page = user_client.get(f"/inverters/{inverter.pk}/").content.decode()
    assert 'value="Roof"' in page
    response = user_client.post(f"/inverters/{inverter.pk}/", form_data(name="Roof south", port=inverter.port,
                                                                          max_ac_w=5000))  # fmt: skip
    assert response.status_code == 302
    inverter.refresh_from_db()
    assert (inverter.name, inverter.max_ac_w) == ("Roof south", 5000)
    assert user_client.get(f"/inverters/{inverter.pk}/delete/").status_code == 200
    assert user_client.post(f"/inverters/{inverter.pk}/delete/").status_code == 302
    assert not Inverter.objects.exists()


def test_battery_of_a_piko_mp_plus_is_filled_in_from_type_and_modules(user_client: Client, plant: Plant):
    set_option(plant, BATTERY_MANAGEMENT)
    PowerSettings.objects.create(plant=plant)
    mp = existing(plant, "Shed", "piko_mp_plus", with_battery=True)
    page = user_client.get("/inverters/").content.decode()
    assert by_testid(page, f"battery-missing-{mp.pk}")
    response = user_client.post(f"/inverters/{mp.pk}/battery/", {"type": "byd_hvm", "modules": "3"})
    assert response.status_code == 302
    battery = Battery.objects.get(inverter=mp)
    assert (battery.capacity_wh, battery.max_charge_w) == (8280, 7680)
    response = user_client.post(f"/inverters/{mp.pk}/battery/", {"type": "byd_hvm", "modules": "12"})
    assert "3 to 8" in text_of(response.content.decode(), "error-modules")
    assert user_client.get(f"/inverters/{existing(plant, 'Roof').pk}/battery/").status_code == 404


def test_power_settings_are_saved_and_return_to_the_page_they_came_from(user_client: Client, plant: Plant):
    existing(plant, "Roof", max_ac_w=10_000)
    url = reverse("inverters:power-settings")
    data = {"feed_in_limit_enabled": "on", "limit_mode": "pct", "limit_value": "70", "algorithm": "cluster_v1",
            "min_soc_pct": "5", "max_soc_pct": "100"}  # fmt: skip
    response = user_client.post(url, data | {"next": "/meter/"})
    assert response.status_code == 302
    assert response["Location"] == "/meter/"
    saved = PowerSettings.objects.get(plant=plant)
    assert (saved.feed_in_limit_enabled, saved.limit_mode, saved.limit_value) == (True, "pct", 70)

    response = user_client.post(url, data | {"next": "https://elsewhere.example/"})
    assert response.status_code == 302
    assert not response["Location"].startswith("https://elsewhere"), "only back to this site"

    page = user_client.get(url).content.decode()
    assert "7,000 W" in text_of(page, "limit-calculator")


def test_power_settings_in_the_home_position_are_refused_saying_why(user_client: Client, plant: Plant):
    plant.installation_position = "home"
    plant.save()
    existing(plant, "Roof")
    page = user_client.get(reverse("inverters:power-settings")).content.decode()
    assert "home-consumption position" in text_of(page, "home-position-note")
    assert "activation code" in text_of(page, "battery-management-locked")
    response = user_client.post(
        reverse("inverters:power-settings"),
        {"feed_in_limit_enabled": "on", "limit_mode": "pct", "limit_value": "70", "algorithm": "cluster_v1",
         "min_soc_pct": "5", "max_soc_pct": "100", "next": "/meter/"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "grid connection point" in text_of(response.content.decode(), "error-feed_in_limit_enabled")
    assert not PowerSettings.objects.filter(feed_in_limit_enabled=True).exists()


def test_the_form_the_overview_embeds(plant: Plant):
    from inverters.forms import PowerSettingsForm

    existing(plant, "Roof", max_ac_w=8_000)
    form = PowerSettingsForm(plant=plant)
    assert list(form.fields) == ["feed_in_limit_enabled", "limit_mode", "limit_value", "algorithm",
                                 "battery_management_enabled", "min_soc_pct", "max_soc_pct", "grid_optimised",
                                 "full_by"]  # fmt: skip
    assert form.generator_power_w == 8_000
    assert form.initial["min_soc_pct"] == 5
    bad = PowerSettingsForm(plant=plant, data={"limit_mode": "w", "limit_value": "9000", "feed_in_limit_enabled": "on",
                                               "algorithm": "cluster_v1", "min_soc_pct": "5", "max_soc_pct": "100"})  # fmt: skip
    assert not bad.is_valid()
    assert "8000 W" in bad.errors["limit_value"][0]


def test_pages_speak_german(user_client: Client, plant: Plant):
    existing(plant, "Roof")
    user_client.cookies["django_language"] = "de"
    page = user_client.get("/inverters/").content.decode()
    assert "Wechselrichter hinzufügen" in page
    page = user_client.get(reverse("inverters:power-settings")).content.decode()
    assert "Einspeisebegrenzung" in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_add_form_fills_in_the_power_and_shows_the_fields_of_the_type(web: Stack, tmp_path: Path) -> None:
    # Made before the browser starts: its driver runs an event loop in this thread.
    roof = existing(Plant.objects.create(name="Home"), "Roof", "plenticore", max_ac_w=10_000, power_class="10",
                    serial_number="90411ABC", software_version="2.15")  # fmt: skip
    client = Client()
    client.force_login(get_user_model().objects.create_user("installer", password="Secret-Pass-1"))
    cookie = session_cookie_of(client, web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, locale="en-GB")
        page.goto(web.base_url + reverse("inverters:add"))

        page.select_option("[name=type]", "piko_mp_plus")
        assert page.is_visible("fieldset[data-connection=rs485]")
        assert page.is_hidden("fieldset[data-connection=tcp]")
        offered = page.eval_on_selector_all("[name=power_class] option", "os => os.map(o => o.value)")
        assert offered == ["", "1.5-2", "2.0-2", "2.5-2", "3.0-2", "3.6-2", "4.2-2", "4.6-2", "5.0-2"]
        page.select_option("[name=power_class]", "3.6-2")
        assert page.input_value("[name=max_ac_w]") == "3600"

        page.select_option("[name=type]", "piko_ci")
        assert page.is_visible("[data-testid=piko-ci-note]")
        assert page.is_visible("fieldset[data-connection=tcp]")
        assert page.is_hidden("[data-battery-option]"), "a PIKO CI has no battery input"
        assert page.input_value("[name=max_ac_w]") == "", "3.6-2 is no PIKO CI class"
        page.select_option("[name=power_class]", "30")
        assert page.input_value("[name=max_ac_w]") == "30000"
        page.screenshot(path=tmp_path / "inverter-form.png", full_page=True)

        page.goto(web.base_url + reverse("inverters:list"))
        assert page.is_hidden(f"[data-testid=inverter-serial-{roof.pk}]"), "behind the info button"
        page.click(f"[data-testid=inverter-info-{roof.pk}] summary")
        assert page.text_content(f"[data-testid=inverter-serial-{roof.pk}]") == "90411ABC"
        page.screenshot(path=tmp_path / "inverter-list.png", full_page=True)


def test_admin_applies_the_same_rules_and_detection(client: Client, plant: Plant):
    client.force_login(get_user_model().objects.create_superuser("installer", password="Secret-Pass-1"))
    assert client.get("/admin/inverters/inverter/add/").status_code == 200
    assert client.get("/admin/inverters/powersettings/add/").status_code == 200
    port = closed_port()
    response = client.post(
        "/admin/inverters/inverter/add/",
        form_data(port=port, position="0") | {"plant": str(plant.pk), "battery-TOTAL_FORMS": "0",
                                              "battery-INITIAL_FORMS": "0", "battery-MIN_NUM_FORMS": "0",
                                              "battery-MAX_NUM_FORMS": "1"},
    )  # fmt: skip
    assert response.status_code == 200
    assert f"No answer from 127.0.0.1:{port} within 1 s" in response.content.decode()
    assert not Inverter.objects.exists()
    plant.installation_position = "home"
    plant.save()
    response = client.post(
        "/admin/inverters/powersettings/add/",
        {"plant": str(plant.pk), "feed_in_limit_enabled": "on", "limit_mode": "pct", "limit_value": "60",
         "algorithm": "cluster_v1", "min_soc_pct": "5", "max_soc_pct": "100"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "home-consumption position" in response.content.decode()
    assert not PowerSettings.objects.exists()
