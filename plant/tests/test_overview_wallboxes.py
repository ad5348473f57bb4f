"""The plant overview's wallboxes and one truth for consumption and grid (PL-2, issue 13.9).

The house card used to split only the house (wallboxes left out) while the grid card showed the
whole purchase: "Grid 12 W 3 %" next to "11,040 W purchase". Now the consumption card counts the
house and the wallboxes together, so its grid share is the purchase the grid card shows (unless
the grid also charges the battery, which the card then says).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Page

from energy.flow import compute_flow
from energy.state import DeviceStatus, EnergyFlow, FlowSummary, PlantState, WallboxState
from plant.models import Plant
from plant.overview import consumption_sources, grid_to_battery_w
from plant.tests.test_overview_page import broadcast, flow, meter_only_state, meter_reading, rows, session_cookie
from tests.browser import chromium, page_as
from tests.pages import publish, text_of
from tests.stack import Stack

NOW = dt.datetime(2026, 6, 1, 20, 0, 0, tzinfo=dt.UTC)


def carport(**changes: object) -> WallboxState:
    box = WallboxState(
        name="Carport",
        type="enector_11",
        status=DeviceStatus(name="Carport", online=True, last_seen=NOW),
        state="charging",
        mode="power",
        configured_mode="power",
        phases=3,
        current_a=16.0,
        phase_currents_a=(16.0, 16.0, 16.0),
        power_w=11_000.0,
        vehicle_connected=True,
        vehicle_phases=3,
        session_energy_wh=7_345.0,
        reason="Power mode: maximum current",
        status_code=5,
        session_duration_s=2 * 3600 + 5 * 60 + 30,
    )
    return dataclasses.replace(box, **changes)  # type: ignore[arg-type]


def charging_at_night(plant: Plant, *boxes: WallboxState) -> PlantState:
    """The issue's moment: 11,040 W bought, 11 kW into the car, a little PV, no battery."""
    reading = dataclasses.replace(meter_reading(), active_power_w=11_040.0)
    summary = FlowSummary(pv_power_w=388.0, wallbox_power_w=sum(b.power_w or 0.0 for b in boxes))
    return meter_only_state(
        plant, meter=reading, flow=compute_flow("grid", reading, summary), wallboxes=boxes or (carport(),)
    )


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def overview(client: Client) -> str:
    response = client.get(reverse("plant:overview"))
    assert response.status_code == 200
    return response.content.decode()


def test_consumption_and_grid_tell_one_story(user_client: Client, plant: Plant) -> None:
    publish(charging_at_night(plant, carport()))

    page = overview(user_client)

    assert text_of(page, "grid-power") == "11,040 W"
    assert text_of(page, "grid-direction") == "Purchase"
    assert text_of(page, "consumption-total") == "11.43 kW"
    assert text_of(page, "house-consumption") == "428 W"
    assert text_of(page, "wallbox-consumption") == "11.00 kW"
    assert text_of(page, "source-pv") == "PV 388 W 3 %"
    assert text_of(page, "source-grid") == "Grid 11.04 kW 97 %", "the grid's share is the purchase"
    assert "hidden" in dict(_attrs(page, "grid-to-battery"))


def _attrs(page: str, testid: str) -> dict[str, str]:
    from tests.pages import by_testid

    return by_testid(page, testid)[1]


def test_a_grid_charging_the_battery_is_said_plainly(user_client: Client, plant: Plant) -> None:
    # 3 kW bought: 1 kW for the house, 2 kW into the battery.
    publish(meter_only_state(plant, flow=flow(grid=3_000.0, pv=0.0, battery=2_000.0, house=1_000.0, soc=40.0)))

    page = overview(user_client)

    assert text_of(page, "source-grid") == "Grid 1.00 kW 100 %"
    assert text_of(page, "grid-to-battery") == "The grid also charges the battery with 2.00 kW."


def test_each_wallbox_with_status_code_power_energy_and_duration(user_client: Client, plant: Plant) -> None:
    offline = carport(
        name="Garage",
        status=DeviceStatus(name="Garage", online=False, offline_since=NOW, error="no answer within 1 s"),
        state="error",
        power_w=None,
        vehicle_connected=False,
        session_energy_wh=None,
        reason="offline: no answer within 1 s",
        status_code=None,
        session_duration_s=None,
    )
    waiting = carport(
        name="Shed",
        state="no_vehicle",
        power_w=0.0,
        vehicle_connected=False,
        status_code=1,
        session_energy_wh=None,
        session_duration_s=None,
        reason="",
    )
    publish(charging_at_night(plant, carport(), offline, waiting))

    boxes = rows(overview(user_client), "wallbox-row")

    assert list(boxes) == ["Carport", "Garage", "Shed"]
    assert boxes["Carport"][0] == "Carport Charging Power mode: maximum current 5 (charging) 11.00 kW 7.35 kWh 2:05 h"
    assert boxes["Garage"][0] == "Garage No answer offline: no answer within 1 s no answer within 1 s – – – –"
    assert "is-error" in boxes["Garage"][1]["class"]
    assert boxes["Shed"][0] == "Shed No vehicle 1 (no vehicle) 0 W – –"


def test_a_box_error_code_is_shown_with_the_status_code(user_client: Client, plant: Plant) -> None:
    publish(
        charging_at_night(plant, carport(state="error", status_code=6, error_code=12, power_w=0.0, reason="error 12"))
    )

    boxes = rows(overview(user_client), "wallbox-row")

    assert "6 (error) · error 12" in boxes["Carport"][0]


def test_without_wallboxes_the_section_and_the_line_stay_hidden(user_client: Client, plant: Plant) -> None:
    publish(meter_only_state(plant))

    page = overview(user_client)

    assert 'data-section="wallboxes" hidden' in " ".join(page.split())
    assert "hidden" in _attrs(page, "wallbox-consumption-item")


@given(
    grid=st.floats(-20_000, 20_000),
    pv=st.floats(0, 20_000),
    battery=st.floats(-5_000, 5_000),
    wallbox=st.floats(0, 22_000),
)
def test_the_grid_share_is_the_purchase_less_what_charges_the_battery(
    grid: float, pv: float, battery: float, wallbox: float
) -> None:
    house = grid + pv - battery - wallbox
    if house < 0:
        return  # not a possible balance: the flow reports such a house as unknown
    state = EnergyFlow(grid_power_w=grid, pv_power_w=pv, battery_power_w=battery, battery_soc_pct=50.0,
                       house_power_w=house, wallbox_power_w=wallbox)  # fmt: skip
    shares = {s.source: s for s in consumption_sources(state)}
    to_battery = grid_to_battery_w(state) or 0.0
    grid_share = shares["grid"].power_w
    assert grid_share is not None
    assert sum(s.power_w or 0.0 for s in shares.values()) == pytest.approx(house + wallbox, abs=1e-6)
    # What the grid card shows as purchase goes to the consumers, or into the battery (said in words).
    assert grid_share + to_battery == pytest.approx(max(grid, 0.0), abs=10.0 + 1e-6)


# ---- live, in a browser -------------------------------------------------------------------------


def _text(page: Page, selector: str) -> str:
    return " ".join((page.text_content(selector) or "").split())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_wallbox_rows_follow_live_snapshots(web: Stack, tmp_path: Path) -> None:
    plant = Plant.objects.create(name="Live plant", time_zone="Europe/Berlin")
    first = charging_at_night(plant, carport())
    publish(first)
    cookie = session_cookie(web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, viewport={"width": 1280, "height": 900}, locale="en-GB")
        page.goto(web.base_url + reverse("plant:overview"))
        page.locator("[data-testid=connection-status][data-state=live]").wait_for(timeout=10_000)
        row = '[data-testid=wallbox-row][data-name="Carport"]'
        # The script rendered the first snapshot exactly as the server did.
        assert _text(page, row) == "Carport Charging Power mode: maximum current 5 (charging) 11.00 kW 7.35 kWh 2:05 h"
        assert _text(page, "[data-testid=source-grid]") == "Grid 11.04 kW 97 %"

        # The car is full: the box stops, a second box appears.
        done = carport(state="paused", power_w=0.0, status_code=4, session_energy_wh=9_870.0,
                       session_duration_s=3 * 3600 + 1, reason="")  # fmt: skip
        shed = carport(name="Shed", state="no_vehicle", power_w=0.0, vehicle_connected=False, status_code=1,
                       session_energy_wh=None, session_duration_s=None, reason="")  # fmt: skip
        second = charging_at_night(plant, done, shed)
        broadcast(dataclasses.replace(second, sequence=first.sequence + 1, timestamp=dt.datetime.now(dt.UTC)))

        page.locator(f"{row}[data-state=paused]").wait_for(timeout=10_000)
        assert _text(page, row) == "Carport Paused 4 (ready to charge) 0 W 9.87 kWh 3:00 h"
        assert _text(page, '[data-testid=wallbox-row][data-name="Shed"]') == "Shed No vehicle 1 (no vehicle) 0 W – –"
        assert _text(page, "[data-testid=wallbox-consumption]") == "0 W"
        page.screenshot(path=tmp_path / "overview-wallboxes.png", full_page=True)
