"""The dashboard page (PL-3) as rendered by the server from the latest snapshot in Redis."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from energy.config import GRID_POSITION
from energy.flow import compute_flow
from energy.state import (
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    FlowSummary,
    InverterState,
    MeterReading,
    PhaseReading,
    PlantState,
)
from plant.models import Plant
from tests.pages import by_testid, publish

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 4, 10, 30, 15, tzinfo=dt.UTC)


def json_script(page: str, element_id: str) -> Any:
    opening = f'<script id="{element_id}" type="application/json">'
    start = page.index(opening) + len(opening)
    return json.loads(page[start : page.index("</script>", start)])


def make_state(
    plant: Plant,
    *,
    flow: EnergyFlow | None = None,
    meter_online: bool = True,
    messages: tuple[str, ...] = (),
    timestamp: dt.datetime | None = None,
) -> PlantState:
    phase = PhaseReading(230.0, 3.1, 706.7, 40.0, 713.0, 0.99)
    counters = EnergyCounters(4_000.0, 1_000.0, 100.0, 50.0, 4_200.0, 1_100.0)
    meter = MeterReading(2120.0, 120.0, 2139.0, 0.99, 50.0, (phase, phase, phase), counters, (counters,) * 3)
    status = DeviceStatus(
        name="meter",
        online=meter_online,
        offline_since=None if meter_online else NOW - dt.timedelta(minutes=5),
        error="" if meter_online else "no answer from 127.0.0.1:15020",
    )
    return PlantState(
        plant_id=plant.pk,
        timestamp=timestamp or dt.datetime.now(dt.UTC),
        sequence=7,
        meter=meter if meter_online else None,
        meter_status=status,
        flow=flow
        or EnergyFlow(
            grid_power_w=2120.0,
            pv_power_w=850.0,
            battery_power_w=-1500.0,
            battery_soc_pct=76.4,
            house_power_w=4470.0,
            wallbox_power_w=0.0,
        ),
        totals=EnergyCounters(active_import_wh=12_345_678.9, active_export_wh=2_345_678.1),
        messages=messages,
    )


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def dashboard(client: Client) -> str:
    response = client.get(reverse("plant:dashboard"))
    assert response.status_code == 200
    return response.content.decode()


def test_dashboard_shows_the_energy_flow_of_the_latest_snapshot(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    page = dashboard(user_client)

    grid_text, grid = by_testid(page, "grid-power")
    assert grid_text == "2.12 kW"
    assert float(grid["data-value-w"]) == 2120.0
    assert by_testid(page, "pv-power")[0] == "850 W"
    assert by_testid(page, "house-power")[0] == "4.47 kW"
    assert by_testid(page, "battery-power")[0] == "1.50 kW"
    assert float(by_testid(page, "battery-power")[1]["data-value-w"]) == -1500.0
    assert by_testid(page, "wallbox-power")[0] == "0 W"
    assert by_testid(page, "grid-caption")[0] == "Purchase"
    assert by_testid(page, "battery-caption")[0] == "Discharging"


def test_flow_lines_follow_the_sign_of_the_power(user_client: Client, plant: Plant) -> None:
    publish(
        make_state(
            plant,
            flow=EnergyFlow(
                grid_power_w=-3000.0,
                pv_power_w=5200.0,
                battery_power_w=1200.0,
                battery_soc_pct=40.0,
                house_power_w=1000.0,
                wallbox_power_w=2.0,
            ),
        )
    )

    page = dashboard(user_client)

    assert by_testid(page, "flow-grid")[1]["data-direction"] == "from-house"  # feed-in
    assert by_testid(page, "flow-pv")[1]["data-direction"] == "to-house"
    assert by_testid(page, "flow-battery")[1]["data-direction"] == "from-house"  # charging
    assert by_testid(page, "flow-wallbox")[1]["data-direction"] == "idle"  # ~0 W fades out
    assert by_testid(page, "grid-caption")[0] == "Feed-in"
    assert by_testid(page, "battery-caption")[0] == "Charging"


def test_devices_the_plant_does_not_have_are_shown_as_not_configured(user_client: Client, plant: Plant) -> None:
    publish(
        make_state(
            plant,
            flow=EnergyFlow(
                grid_power_w=800.0,
                pv_power_w=None,
                battery_power_w=None,
                battery_soc_pct=None,
                house_power_w=None,
                wallbox_power_w=None,
            ),
        )
    )

    page = dashboard(user_client)

    assert by_testid(page, "battery-power")[0] == "–"
    assert by_testid(page, "battery-caption")[0] == "not configured"
    assert by_testid(page, "wallbox-caption")[0] == "not configured"
    assert by_testid(page, "battery-soc")[0] == "–"
    assert by_testid(page, "grid-power")[0] == "800 W"


def test_dashboard_shows_soc_and_totals_since_commissioning(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    page = dashboard(user_client)

    assert by_testid(page, "battery-soc")[0] == "76 %"
    assert by_testid(page, "total-purchase")[0] == "12,345.68 kWh"
    assert by_testid(page, "total-feed-in")[0] == "2,345.68 kWh"


def test_messages_show_the_last_update_and_the_snapshot_messages(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, timestamp=NOW, messages=("Feed-in limited to 70 %",)))

    page = dashboard(user_client)

    # Server-side in the plant's time zone (Europe/Berlin = UTC+2 in May); the browser redoes it in its own.
    last_update, attributes = by_testid(page, "last-update")
    assert "12:30:15" in last_update
    assert dt.datetime.fromisoformat(attributes["data-timestamp"]) == NOW
    assert "Feed-in limited to 70 %" in by_testid(page, "messages")[0]


def test_an_offline_meter_is_reported_with_the_time_it_went_offline(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, meter_online=False, timestamp=NOW))

    page = dashboard(user_client)

    text, attributes = by_testid(page, "meter-status")
    assert attributes["data-online"] == "false"
    assert "Meter offline since" in text
    assert "12:25:15" in text
    assert "no answer from 127.0.0.1:15020" in text


def test_before_the_first_measurement_the_page_says_it_is_waiting(user_client: Client, plant: Plant) -> None:
    page = dashboard(user_client)

    assert "Waiting for the first measurement" in by_testid(page, "last-update")[0]
    assert by_testid(page, "grid-power")[0] == "–"


def test_dashboard_opens_the_live_socket_and_loads_the_history_of_its_plant(user_client: Client, plant: Plant) -> None:
    config = json_script(dashboard(user_client), "live-config")

    assert config["plantId"] == plant.pk
    assert config["socketPath"] == f"/ws/plants/{plant.pk}/live/"
    assert config["historyUrl"] == f"/api/plants/{plant.pk}/history?hours=24"


def test_with_several_plants_the_header_offers_a_switch_and_the_page_follows_it(
    user_client: Client, plant: Plant
) -> None:
    other = Plant.objects.create(name="Barn")
    publish(make_state(plant))
    publish(
        make_state(
            other,
            flow=EnergyFlow(
                grid_power_w=-640.0,
                pv_power_w=900.0,
                battery_power_w=None,
                battery_soc_pct=None,
                house_power_w=260.0,
                wallbox_power_w=None,
            ),
        )
    )

    page = user_client.get(reverse("plant:dashboard"), {"plant": other.pk}).content.decode()

    switcher, _ = by_testid(page, "plant-switcher")
    assert "Home" in switcher and "Barn" in switcher
    assert by_testid(page, "grid-power")[0] == "640 W"
    # The choice sticks for the next page.
    assert by_testid(dashboard(user_client), "grid-power")[0] == "640 W"


def test_with_one_plant_there_is_no_plant_switch(user_client: Client, plant: Plant) -> None:
    assert 'data-testid="plant-switcher"' not in dashboard(user_client)


def test_menu_shows_later_entries_disabled(user_client: Client, plant: Plant) -> None:
    page = dashboard(user_client)

    assert 'href="/meter/"' in page
    assert 'href="/plant/overview/"' in page
    assert 'href="/tariffs/"' in page
    assert 'href="/device/"' in page  # Device settings is a real page now
    # The wallbox menu appears only once the plant's wallbox option is active (WB-1).
    assert 'data-testid="menu-wallbox"' not in page


def test_dashboard_in_german_after_the_language_switch(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    response = user_client.post(reverse("set_language"), {"language": "de", "next": reverse("plant:dashboard")})
    page = user_client.get(response["Location"]).content.decode()

    assert "Energiefluss" in page
    assert by_testid(page, "grid-label")[0] == "Netz"
    assert by_testid(page, "grid-caption")[0] == "Bezug"
    assert "Abmelden" in page
    # German number format: decimal comma, dot for thousands.
    assert by_testid(page, "grid-power")[0] == "2,12 kW"
    assert by_testid(page, "total-purchase")[0] == "12.345,68 kWh"
    assert float(by_testid(page, "grid-power")[1]["data-value-w"]) == 2120.0


def test_no_plant_yet_is_explained(user_client: Client) -> None:
    assert "No plant is set up yet" in dashboard(user_client)


def test_log_data_downloads_as_csv_from_the_dashboard(user_client: Client, plant: Plant) -> None:
    page = dashboard(user_client)
    links = {name: by_testid(page, name)[1]["href"] for name in ("history-csv-24h", "history-csv-14d", "energy-csv")}
    for href in links.values():
        response = user_client.get(href)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"].startswith("attachment;")
    assert "hours=336" in links["history-csv-14d"]


def test_energy_flow_of_a_plant_with_its_own_inverters(user_client: Client, plant: Plant) -> None:
    """With inverters of its own the cycle knows PV and battery itself: PV = inverters' output + battery charge."""
    inverters = (
        InverterState(name="Roof", type="plenticore", status=DeviceStatus(name="Roof", online=True),
                      controllable=True, max_ac_w=10_000.0, ac_power_w=5_400.0, battery_power_w=1_200.0,
                      battery_soc_pct=63.0),
        InverterState(name="Garage", type="piko_iq", status=DeviceStatus(name="Garage", online=True),
                      controllable=True, max_ac_w=5_500.0, ac_power_w=3_100.0),
    )  # fmt: skip
    summary = FlowSummary(pv_power_w=5_400.0 + 3_100.0 + 1_200.0, battery_power_w=1_200.0, battery_soc_pct=63.0)
    state = make_state(plant)
    assert state.meter is not None
    meter = dataclasses.replace(state.meter, active_power_w=-2_000.0)
    publish(
        dataclasses.replace(state, meter=meter, inverters=inverters, flow=compute_flow(GRID_POSITION, meter, summary))
    )

    page = dashboard(user_client)

    assert by_testid(page, "pv-power")[0] == "9.70 kW"
    assert by_testid(page, "battery-power")[0] == "1.20 kW"
    assert by_testid(page, "battery-caption")[0] == "Charging"
    assert by_testid(page, "grid-power")[0] == "2.00 kW"
    assert by_testid(page, "grid-caption")[0] == "Feed-in"
    # house = grid + PV - battery charge = -2.0 + 9.7 - 1.2 kW
    assert by_testid(page, "house-power")[0] == "6.50 kW"
    assert by_testid(page, "battery-soc")[0] == "63 %"
