"""The plant overview (PL-2) as rendered by the server from the latest snapshot in Redis."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.html import Element, parse_html
from django.urls import reverse

import redisconn
from energy.state import (
    BatteryState,
    ControllerStatus,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    InverterState,
    MeterReading,
    PhaseReading,
    PlannedCharge,
    PlantState,
    Setpoint,
    Timer,
)
from inverters.models import Inverter
from plant import live
from plant.models import Plant
from plant.overview import Share, consumption_sources
from tests.browser import chromium, page_as, session_cookie_of
from tests.pages import by_testid, publish, text_of
from tests.stack import Stack

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)


def flow(
    grid: float | None = 0.0,
    pv: float | None = None,
    battery: float | None = None,
    house: float | None = None,
    soc: float | None = None,
) -> EnergyFlow:
    return EnergyFlow(
        grid_power_w=grid,
        pv_power_w=pv,
        battery_power_w=battery,
        battery_soc_pct=soc,
        house_power_w=house,
        wallbox_power_w=None,
    )


# house, pv, battery (charge +) -> shares (source, W, %) in the order PV, battery, grid.
@pytest.mark.parametrize(
    ("house", "pv", "battery", "expected"),
    [
        # PV covers everything; the rest of PV feeds in or charges, it is no source of the house.
        (1000.0, 3000.0, 500.0, [("pv", 1000.0, 100.0), ("battery", 0.0, 0.0), ("grid", 0.0, 0.0)]),
        # PV first, then the discharging battery, the grid the rest.
        (4000.0, 1000.0, -2000.0, [("pv", 1000.0, 25.0), ("battery", 2000.0, 50.0), ("grid", 1000.0, 25.0)]),
        # A discharging battery beyond the house (e.g. into the wallbox) covers only the house.
        (1000.0, 0.0, -3000.0, [("pv", 0.0, 0.0), ("battery", 1000.0, 100.0), ("grid", 0.0, 0.0)]),
        # Night: all from the grid.
        (800.0, 0.0, 0.0, [("pv", 0.0, 0.0), ("battery", 0.0, 0.0), ("grid", 800.0, 100.0)]),
        # Devices the plant does not have are left out.
        (2000.0, None, None, [("grid", 2000.0, 100.0)]),
        (2000.0, 500.0, None, [("pv", 500.0, 25.0), ("grid", 1500.0, 75.0)]),
        # Nothing consumed: nothing to share.
        (0.0, 0.0, None, [("pv", 0.0, None), ("grid", 0.0, None)]),
        # Unknown consumption: every share unknown.
        (None, 1200.0, -300.0, [("pv", None, None), ("battery", None, None), ("grid", None, None)]),
    ],
)
def test_consumption_sources_pv_first_then_battery_then_grid(
    house: float | None, pv: float | None, battery: float | None, expected: list[tuple[str, float | None, float | None]]
) -> None:
    shares = consumption_sources(flow(pv=pv, battery=battery, house=house))
    assert shares == tuple(Share(*row) for row in expected)


# ---- the page ---------------------------------------------------------------------------------


def meter_reading() -> MeterReading:
    phases = (
        PhaseReading(230.4, 5.21, -1180.0, 0.0, 1200.0, 0.98),
        PhaseReading(229.8, 3.10, -690.5, 0.0, 713.0, 0.97),
        PhaseReading(231.1, 1.20, 250.2, 0.0, 276.0, 0.91),
    )
    counters = EnergyCounters(active_import_wh=1000.0, active_export_wh=2000.0)
    return MeterReading(-1620.3, 0.0, 2189.0, 0.962, 50.02, phases, counters, (counters,) * 3)


def online(name: str) -> DeviceStatus:
    return DeviceStatus(name=name, online=True, last_seen=NOW)


def full_state(plant: Plant, *, timestamp: dt.datetime | None = None) -> PlantState:
    """Three inverters (a hybrid PLENTICORE, a PIKO IQ, a monitored-only PIKO CI), a battery, a limit in force."""
    inverters = (
        InverterState(name="Roof south", type="plenticore", status=online("Roof south"), controllable=True,
                      max_ac_w=10_000.0, ac_power_w=5_400.0, dc_power_w=6_600.0, limit_pct=60.0,
                      battery_power_w=1_200.0, battery_soc_pct=63.0),
        InverterState(name="Garage", type="piko_iq", status=online("Garage"), controllable=True,
                      max_ac_w=5_500.0, ac_power_w=3_100.0, dc_power_w=3_150.0, limit_pct=60.0),
        InverterState(name="Barn", type="piko_ci", status=online("Barn"), controllable=False,
                      max_ac_w=30_000.0, ac_power_w=8_000.0, dc_power_w=8_200.0),
    )  # fmt: skip
    battery = BatteryState(
        name="BYD HVS",
        status=online("BYD HVS"),
        inverter="Roof south",
        capacity_wh=10_240.0,
        max_charge_w=5_000.0,
        max_discharge_w=5_000.0,
        min_soc_pct=5.0,
        max_soc_pct=100.0,
        power_w=1_200.0,
        soc_pct=63.0,
        charge_limit_w=4_200.0,
        charge_limit_reason="grid-operator LPC 4.2 kW",
        discharge_limit_w=0.0,
        discharge_limit_reason='"do not use house battery" (wallbox)',
    )
    return PlantState(
        plant_id=plant.pk,
        timestamp=timestamp or dt.datetime.now(dt.UTC),
        sequence=42,
        meter=meter_reading(),
        meter_status=online("meter"),
        flow=flow(grid=-1620.3, pv=17_700.0, battery=1_200.0, house=14_879.7, soc=63.0),
        totals=EnergyCounters(),
        inverters=inverters,
        battery=battery,
        feed_in_limit_w=9_300.0,
        setpoints=(
            Setpoint(device="Roof south", quantity="active_power_limit_pct", value=60.0,
                     reason="feed-in limit 9300 W", source="feed_in_limitation"),
            Setpoint(device="Garage", quantity="active_power_limit_pct", value=60.0,
                     reason="feed-in limit 9300 W", source="feed_in_limitation"),
            Setpoint(device="Roof south", quantity="battery_power_w", value=1_200.0, reason="surplus"),
        ),
        controllers=(
            ControllerStatus(name="feed_in_limitation", state="limiting", reason="feed-in 9.9 kW above 9.3 kW",
                             timers=(Timer(name="release ramp", seconds_left=12.4),)),
            ControllerStatus(name="battery_management", state="failed", reason="internal error",
                             error="ZeroDivisionError: float division by zero",
                             timers=(Timer(name="retry", seconds_left=4.0),)),
        ),
    )  # fmt: skip


def meter_only_state(plant: Plant, **changes: object) -> PlantState:
    state = PlantState(
        plant_id=plant.pk,
        timestamp=dt.datetime.now(dt.UTC),
        sequence=3,
        meter=meter_reading(),
        meter_status=online("meter"),
        flow=flow(grid=850.0, house=850.0),
        totals=EnergyCounters(),
    )
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def overview(client: Client, **params: str) -> str:
    response = client.get(reverse("plant:overview"), params)
    assert response.status_code == 200
    return response.content.decode()


def _elements(node: Element | str) -> Iterator[Element]:
    if isinstance(node, Element):
        yield node
        for child in node.children:
            yield from _elements(child)


def _text(node: Element | str) -> str:
    return node if isinstance(node, str) else " ".join(_text(child) for child in node.children)


def rows(page: str, testid: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Every row with this testid, by its data-name: whitespace-normalized text and attributes.

    Rows inside a <template> (the script's blueprint, never shown) are not rows of the page.
    """
    found = {}
    for element in _elements(parse_html(page)):
        if element.name == "template":
            element.children = []
        attributes = {name: value or "" for name, value in element.attributes}
        if attributes.get("data-testid") == testid:
            found[attributes["data-name"]] = (" ".join(_text(element).split()), attributes)
    return found


def is_hidden(page: str, testid: str) -> bool:
    return "hidden" in by_testid(page, testid)[1]


def section_hidden(page: str, name: str) -> bool:
    for element in _elements(parse_html(page)):
        attributes = dict(element.attributes)
        if attributes.get("data-section") == name:
            return "hidden" in attributes
    raise AssertionError(f"no section {name!r}")


def test_house_consumption_shows_where_it_comes_from(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))

    page = overview(user_client)

    assert text_of(page, "house-consumption") == "14.88 kW"
    # 17.7 kW PV covers all of it: PV 100 %, the charging battery and the feed-in grid 0 %.
    assert text_of(page, "source-pv") == "PV 14.88 kW 100 %"
    assert text_of(page, "source-battery") == "Battery 0 W 0 %"
    assert text_of(page, "source-grid") == "Grid 0 W 0 %"


def test_power_limitation_shows_the_limit_setpoint_reason_and_controller(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))

    page = overview(user_client)

    assert text_of(page, "limitation-status") == "On"
    assert text_of(page, "limitation-limit") == "9.30 kW"
    # 60 % of 10 kW + 60 % of 5.5 kW; the PIKO CI gets no setpoint.
    assert text_of(page, "limitation-setpoint") == "9.30 kW"
    assert text_of(page, "limitation-setpoint-pct") == "20 % of generator power"
    assert text_of(page, "limitation-reason") == "feed-in limit 9300 W"
    controller = text_of(page, "limitation-controller")
    assert "Limiting" in controller
    assert "feed-in 9.9 kW above 9.3 kW" in controller
    assert "release ramp 12 s" in controller


def test_each_inverter_with_output_limit_reason_and_status(user_client: Client, plant: Plant) -> None:
    failed = full_state(plant)
    garage = dataclasses.replace(
        failed.inverters[1],
        status=DeviceStatus(name="Garage", online=False, offline_since=NOW, error="no answer within 1.0 s"),
        ac_power_w=None,
    )
    publish(dataclasses.replace(failed, inverters=(failed.inverters[0], garage, failed.inverters[2])))

    inverters = rows(overview(user_client), "inverter-row")

    assert list(inverters) == ["Roof south", "Garage", "Barn"]
    assert inverters["Roof south"][0] == "Roof south PLENTICORE plus 5.40 kW 60 % feed-in limit 9300 W OK"
    garage_text, garage_attributes = inverters["Garage"]
    assert garage_text == "Garage PIKO IQ – 60 % feed-in limit 9300 W Error no answer within 1.0 s"
    assert garage_attributes["data-online"] == "false"
    assert "is-error" in garage_attributes["class"]
    assert inverters["Barn"][0] == "Barn PIKO CI 8.00 kW monitored only OK"


def test_pv_and_battery_with_limits_and_their_reasons(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))

    page = overview(user_client)

    assert text_of(page, "pv-power") == "17.70 kW"
    assert text_of(page, "battery-name") == "BYD HVS"
    assert text_of(page, "battery-power") == "1.20 kW"
    assert text_of(page, "battery-state") == "Charging"
    assert text_of(page, "battery-soc") == "63 %"
    assert text_of(page, "battery-charge-limit") == "4.20 kW"
    assert text_of(page, "battery-charge-limit-reason") == "grid-operator LPC 4.2 kW"
    assert text_of(page, "battery-discharge-limit") == "0 W"
    assert text_of(page, "battery-discharge-limit-reason") == '"do not use house battery" (wallbox)'
    assert "Failed" in text_of(page, "battery-controller")


def test_grid_optimised_charging_shows_its_reason_and_plan(user_client: Client, plant: Plant) -> None:
    state = full_state(plant)
    assert state.battery is not None
    start = dt.datetime(2026, 6, 21, 7, 0, tzinfo=dt.UTC)
    plan = tuple(
        PlannedCharge(start=start + dt.timedelta(minutes=15 * n), charge_w=500.0 * (n // 4), soc_pct=20.0 + n)
        for n in range(8)
    )
    reason = "keeping 3.1 kWh of room for the noon peak above the feed-in limit"
    publish(dataclasses.replace(state, battery=dataclasses.replace(state.battery, plan_reason=reason, plan=plan)))

    page = overview(user_client)

    assert text_of(page, "battery-plan-reason") == reason
    table = text_of(page, "battery-plan")
    assert "Planned charge" in table and "500 W" in table and "27 %" in table  # one row per hour


def test_a_hybrid_inverters_battery_is_shown_without_a_battery_of_the_product(
    user_client: Client, plant: Plant
) -> None:
    state = dataclasses.replace(full_state(plant), battery=None)
    publish(state)

    page = overview(user_client)

    assert text_of(page, "battery-name") == "Roof south"
    assert text_of(page, "battery-soc") == "63 %"
    assert text_of(page, "battery-charge-limit") == "–", "the limits are only known for the product's battery"


def test_grid_per_phase_frequency_and_cos_phi(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))

    page = overview(user_client)

    assert text_of(page, "grid-power") == "-1,620 W"
    assert text_of(page, "grid-direction") == "Feed-in"
    assert text_of(page, "grid-status") == "OK"
    assert text_of(page, "grid-frequency") == "50.02 Hz"
    assert text_of(page, "grid-cos-phi") == "0.962"
    assert [text_of(page, f"grid-voltage-L{n}") for n in (1, 2, 3)] == ["230.4 V", "229.8 V", "231.1 V"]
    assert [text_of(page, f"grid-current-L{n}") for n in (1, 2, 3)] == ["5.21 A", "3.10 A", "1.20 A"]
    assert [text_of(page, f"grid-power-L{n}") for n in (1, 2, 3)] == ["-1,180 W", "-691 W", "250 W"]


def test_controllers_table_shows_a_failed_controller_as_an_error(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))

    controllers = rows(overview(user_client), "controller-row")

    assert controllers["feed_in_limitation"][0] == (
        "Feed-in limitation Limiting feed-in 9.9 kW above 9.3 kW release ramp 12 s"
    )
    text, attributes = controllers["battery_management"]
    assert text == "Battery management Failed internal error ZeroDivisionError: float division by zero retry 4 s"
    assert attributes["data-state"] == "failed"
    assert "is-error" in attributes["class"]


def test_a_meter_only_plant_shows_grid_and_consumption_only(user_client: Client, plant: Plant) -> None:
    publish(meter_only_state(plant))

    page = overview(user_client)

    assert text_of(page, "house-consumption") == "850 W"
    assert text_of(page, "source-grid") == "Grid 850 W 100 %"
    assert is_hidden(page, "source-pv") and is_hidden(page, "source-battery")
    assert text_of(page, "grid-power") == "-1,620 W"
    for absent in ("pv", "battery", "inverters", "controllers"):
        assert section_hidden(page, absent), f"{absent} is not shown"
    assert not section_hidden(page, "grid")
    assert text_of(page, "limitation-status") == "Off"
    assert text_of(page, "limitation-setpoint") == "–"
    assert rows(page, "inverter-row") == {}


def test_an_offline_meter_shows_the_error_and_unknown_values(user_client: Client, plant: Plant) -> None:
    status = DeviceStatus(name="meter", online=False, offline_since=NOW, error="Modbus timeout")
    publish(meter_only_state(plant, meter=None, meter_status=status, flow=flow(grid=None)))

    page = overview(user_client)

    assert text_of(page, "grid-status") == "Error"
    assert text_of(page, "grid-error") == "Modbus timeout"
    assert text_of(page, "grid-frequency") == "–"
    assert text_of(page, "grid-voltage-L1") == "–"
    assert text_of(page, "house-consumption") == "–"
    assert text_of(page, "source-grid") == "Grid – –"


def test_before_the_first_snapshot_the_page_waits(user_client: Client, plant: Plant) -> None:
    page = overview(user_client)

    assert "Waiting for the first measurement" in text_of(page, "last-update")
    assert text_of(page, "house-consumption") == "–"
    assert text_of(page, "grid-frequency") == "–"
    assert section_hidden(page, "inverters") and section_hidden(page, "battery")


def test_a_stale_snapshot_is_shown_as_such(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant, timestamp=NOW))

    page = overview(user_client)

    assert "No new measurement since" in text_of(page, "last-update")
    assert "is-warning" in by_testid(page, "last-update")[1]["class"]


def test_a_snapshot_that_does_not_validate_counts_as_missing(
    user_client: Client, plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"plant_id": plant.pk, "timestamp": "yesterday", "flow": {"grid_power_w": "lots"}}
    redisconn.sync_redis().set(live.state_key(plant.pk), json.dumps(broken))

    first = overview(user_client)
    overview(user_client)

    assert "Waiting for the first measurement" in text_of(first, "last-update")
    assert user_client.get(f"/api/plants/{plant.pk}/state").status_code == 503
    assert [r for r in caplog.records if "not valid" in r.getMessage()].__len__() == 1, "logged once, not per view"


def test_overview_in_german(user_client: Client, plant: Plant) -> None:
    publish(full_state(plant))
    user_client.post(reverse("set_language"), {"language": "de", "next": reverse("plant:overview")})

    page = overview(user_client)

    assert "Anlagenübersicht" in page
    assert "Hausverbrauch" in page
    assert text_of(page, "limitation-status") == "Ein"
    assert text_of(page, "battery-state") == "Laden"
    assert text_of(page, "house-consumption") == "14,88 kW"
    assert text_of(page, "source-pv") == "PV 14,88 kW 100 %"
    assert text_of(page, "grid-direction") == "Einspeisung"
    assert rows(page, "inverter-row")["Barn"][0] == "Barn PIKO CI 8,00 kW nur überwacht OK"
    controllers = rows(page, "controller-row")
    assert controllers["battery_management"][0].startswith("Batteriemanagement Fehlgeschlagen")
    assert controllers["feed_in_limitation"][0].startswith("Einspeisebegrenzung Begrenzt")


def save_inverters(plant: Plant, state: PlantState) -> None:
    """The inverters of the snapshot as set up in the inverters menu (what the settings' % are taken of)."""
    for n, inverter in enumerate(state.inverters):
        Inverter.objects.create(plant=plant, name=inverter.name, type=inverter.type, max_ac_w=inverter.max_ac_w,
                                host=f"192.0.2.{10 + n}")  # fmt: skip


def test_settings_panel_posts_the_power_settings_and_comes_back(user_client: Client, plant: Plant) -> None:
    state = full_state(plant)
    save_inverters(plant, state)
    publish(state)

    page = overview(user_client)

    assert text_of(page, "generator-power").endswith("45.50 kW")
    assert "Barn" in text_of(page, "settings-monitored-only"), "the PIKO CI is never limited (INV-3)"

    assert 'name="feed_in_limit_enabled"' in page
    assert 'name="limit_value"' in page
    assert 'name="min_soc_pct"' in page
    assert by_testid(page, "limit-calculator")
    action = next(
        dict(e.attributes)["action"] or ""
        for e in _elements(parse_html(page))
        if e.name == "form" and "data-settings-form" in dict(e.attributes)
    )
    assert action.startswith(reverse("inverters:power-settings"))
    assert "next=%2Fplant%2Foverview%2F" in action


def test_menu_leads_to_the_overview(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("plant:dashboard")).content.decode()

    _, link = by_testid(page, "menu-overview")
    assert link["href"] == reverse("plant:overview") == "/plant/overview/"
    assert by_testid(overview(user_client), "menu-overview")[1]["aria-current"] == "page"


def test_overview_needs_login(client: Client, plant: Plant) -> None:
    response = client.get(reverse("plant:overview"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


# ---- in a real browser, against the web process -----------------------------------------------


def broadcast(state: PlantState) -> None:
    """What the cycle does at its end: the latest value to Redis, the snapshot to the plant's sockets."""

    async def send() -> None:
        await live.RedisPublisher().publish(state)

    # In a thread of its own: the browser driver already runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result(timeout=10)


def session_cookie(base_url: str) -> dict[str, str]:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("viewer", password="Secret-Pass-1"))
    return session_cookie_of(client, base_url)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_open_overview_follows_live_snapshots(web: Stack, tmp_path: Path) -> None:
    plant = Plant.objects.create(name="Live plant", time_zone="Europe/Berlin")
    state = full_state(plant)
    assert state.battery is not None
    save_inverters(plant, state)
    publish(state)
    cookie = session_cookie(web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, viewport={"width": 1280, "height": 900}, locale="en-GB")
        page.goto(web.base_url + reverse("plant:overview"))
        page.locator("[data-testid=connection-status][data-state=live]").wait_for(timeout=10_000)
        garage = page.locator('[data-testid=inverter-row][data-name="Garage"]')
        assert garage.get_attribute("data-online") == "true"
        page.screenshot(path=tmp_path / "overview-desktop.png", full_page=True)

        # The next cycle: the Garage inverter stops answering, the house draws more, the limit is released.
        garage_down = dataclasses.replace(
            state.inverters[1],
            status=DeviceStatus(name="Garage", online=False, offline_since=NOW, error="no answer within 1.0 s"),
            ac_power_w=None,
        )
        broadcast(
            dataclasses.replace(
                state,
                sequence=state.sequence + 1,
                timestamp=dt.datetime.now(dt.UTC),
                inverters=(state.inverters[0], garage_down, state.inverters[2]),
                flow=flow(grid=2_000.0, pv=5_000.0, battery=-1_000.0, house=8_000.0, soc=60.0),
                battery=dataclasses.replace(state.battery, power_w=-1_000.0, soc_pct=60.0),
                setpoints=(),
                feed_in_limit_w=None,
                controllers=(ControllerStatus(name="feed_in_limitation", state="off", reason="switched off"),),
            )
        )

        page.locator('[data-testid=inverter-row][data-name="Garage"][data-online=false]').wait_for(timeout=10_000)
        garage_text = " ".join((garage.text_content() or "").split())
        assert "Error" in garage_text and "no answer within 1.0 s" in garage_text
        assert "is-error" in (garage.get_attribute("class") or "")
        # The other sections followed the same snapshot, with the server's formatting rules.
        assert page.text_content("[data-testid=house-consumption]") == "8.00 kW"
        pv_share = " ".join((page.text_content("[data-testid=source-pv]") or "").split())
        assert pv_share == "PV 5.00 kW 63 %"
        assert page.text_content("[data-testid=source-battery] [data-role=pct]") == "13 %"
        assert page.text_content("[data-testid=limitation-status]") == "Off"
        assert page.text_content("[data-testid=limitation-setpoint]") == "–"
        assert page.is_hidden("[data-testid=limitation-reason]")
        assert page.text_content("[data-testid=battery-state]") == "Discharging"
        feed_in = page.locator('[data-testid=controller-row][data-name="feed_in_limitation"]')
        assert " ".join((feed_in.text_content() or "").split()) == "Feed-in limitation Off switched off"
        assert page.locator("[data-testid=controller-row]").count() == 1, "a controller that stopped reporting goes"
        assert page.is_hidden("[data-testid=battery-controller]")

        # The settings' calculator shows the limit in the other unit while typing (generator power 45.5 kW).
        page.check('[name=limit_mode][value="w"]')
        page.fill("[name=limit_value]", "9100")
        assert page.text_content("[data-testid=limit-calculator]") == "= 20 % of generator power"
        page.check('[name=limit_mode][value="pct"]')
        page.fill("[name=limit_value]", "50")
        assert page.text_content("[data-testid=limit-calculator]") == "= 22.75 kW"
        page.screenshot(path=tmp_path / "overview-desktop-after.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "no sideways scrolling on a phone"
        page.screenshot(path=tmp_path / "overview-phone.png", full_page=True)
        for n, section in enumerate(("consumption", "inverters", "controllers")):
            page.locator(f"[data-section={section}]").scroll_into_view_if_needed()
            page.screenshot(path=tmp_path / f"overview-phone-{n}-{section}.png")
