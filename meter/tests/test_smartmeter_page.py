"""The smart-meter page (MET-4) as rendered by the server from the latest snapshot in Redis."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, MeterReading, PhaseReading, PlantState
from plant.models import Plant
from tests.pages import by_testid, publish, text_of

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 1, 15, 8, 0, 0, tzinfo=dt.UTC)


def energy(import_kwh: float, export_kwh: float) -> EnergyCounters:
    return EnergyCounters(
        active_import_wh=import_kwh * 1000,
        active_export_wh=export_kwh * 1000,
        reactive_import_varh=import_kwh * 100,
        reactive_export_varh=export_kwh * 100,
        apparent_import_vah=import_kwh * 1100,
        apparent_export_vah=export_kwh * 1100,
    )


def make_state(plant: Plant, *, meter_online: bool = True) -> PlantState:
    phases = (
        PhaseReading(230.4, 5.21, 1180.0, 118.0, 1239.0, 0.95),
        PhaseReading(229.8, 3.10, -690.5, -69.0, 725.0, 0.95),
        PhaseReading(231.1, 1.20, 250.2, 25.0, 263.0, 0.95),
    )
    meter = MeterReading(
        active_power_w=739.7,
        reactive_power_var=74.0,
        apparent_power_va=2227.0,
        power_factor=0.97,
        frequency_hz=50.01,
        phases=phases,
        energy=energy(12.3, 6.15),
        phase_energy=(energy(4.1, 2.05), energy(4.2, 2.1), energy(4.0, 2.0)),
    )
    status = DeviceStatus(
        name="meter",
        online=meter_online,
        offline_since=None if meter_online else NOW - dt.timedelta(minutes=2),
        error="" if meter_online else "Modbus timeout",
    )
    return PlantState(
        plant_id=plant.pk,
        timestamp=NOW,
        sequence=3,
        meter=meter if meter_online else None,
        meter_status=status,
        flow=EnergyFlow(
            grid_power_w=739.7,
            pv_power_w=None,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=None,
            wallbox_power_w=None,
        ),
        # The plant's totals since commissioning differ from the meter's own counters (a meter
        # that had counted before it was installed here).
        totals=energy(10.0, 5.0),
        phase_totals=(energy(3.0, 1.5), energy(4.0, 2.0), energy(3.0, 1.5)),
    )


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def smartmeter(client: Client, **params: str) -> str:
    response = client.get(reverse("meter:smartmeter"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_total_active_power_is_shown_with_its_direction(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    page = smartmeter(user_client)

    text, attributes = by_testid(page, "total-active-power")
    assert text == "740 W"
    assert float(attributes["data-value-w"]) == 739.7
    assert text_of(page, "total-active-power-direction") == "Purchase"


def test_measured_values_per_phase(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    page = smartmeter(user_client)

    assert [text_of(page, f"voltage-L{n}") for n in (1, 2, 3)] == ["230.4 V", "229.8 V", "231.1 V"]
    assert [text_of(page, f"current-L{n}") for n in (1, 2, 3)] == ["5.21 A", "3.10 A", "1.20 A"]
    # Signed: purchase (+), feed-in (-).
    assert [text_of(page, f"active-power-L{n}") for n in (1, 2, 3)] == ["1,180 W", "-691 W", "250 W"]
    assert text_of(page, "power-factor-L1") == "0.950"
    assert text_of(page, "active-power-total") == "740 W"
    assert text_of(page, "frequency") == "50.01 Hz"


def test_active_energy_per_phase_for_purchase_and_feed_in(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    purchase = smartmeter(user_client)
    feed_in = smartmeter(user_client, energy="feed-in")

    # The totals since commissioning, the same numbers as the dashboard's.
    assert [text_of(purchase, f"active-energy-{p}") for p in ("L1", "L2", "L3", "total")] == [
        "3.00 kWh",
        "4.00 kWh",
        "3.00 kWh",
        "10.00 kWh",
    ]
    assert [text_of(feed_in, f"active-energy-{p}") for p in ("L1", "L2", "L3", "total")] == [
        "1.50 kWh",
        "2.00 kWh",
        "1.50 kWh",
        "5.00 kWh",
    ]
    assert by_testid(purchase, "active-energy-total")[1]["data-root"] == "state"
    assert "since commissioning" in text_of(purchase, "energy-note")
    # The meter's own counters: only in advanced mode, and said to be the meter's.
    assert [text_of(feed_in, f"meter-active-energy-{p}") for p in ("L1", "L2", "L3", "total")] == [
        "2.05 kWh",
        "2.10 kWh",
        "2.00 kWh",
        "6.15 kWh",
    ]
    assert "advanced-only" in by_testid(purchase, "meter-counters")[1]["class"]
    assert "The meter's own counters" in text_of(purchase, "meter-counters")
    assert "checked" in by_testid(feed_in, "energy-direction-feed-in")[1]


def test_advanced_mode_adds_apparent_and_reactive_values(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))

    basic = smartmeter(user_client)
    advanced = smartmeter(user_client, advanced="1")

    # Rendered in both (the toggle works without a reload), visible only in advanced mode.
    assert 'class="meter-grid"' in basic
    assert 'class="meter-grid is-advanced"' in advanced
    assert "checked" in by_testid(advanced, "advanced-mode")[1]
    assert text_of(advanced, "apparent-power-L1") == "1,239 VA"
    assert text_of(advanced, "reactive-power-L2") == "-69 var"
    assert text_of(advanced, "reactive-energy-total") == "1.00 kvarh"
    assert text_of(advanced, "apparent-energy-L1") == "3.30 kVAh"
    assert text_of(advanced, "meter-reactive-energy-total") == "1.23 kvarh"
    assert text_of(advanced, "meter-apparent-energy-L1") == "4.51 kVAh"
    assert "advanced-only" in by_testid(basic, "apparent-power-L1")[1]["class"]


def test_offline_meter_shows_offline_since_and_no_values(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, meter_online=False))

    page = smartmeter(user_client)

    status, attributes = by_testid(page, "meter-status")
    assert attributes["data-online"] == "false"
    assert "Meter offline since" in status
    assert "08:58:00" in status  # 07:58 UTC in the plant's time zone (Europe/Berlin, winter)
    assert "Modbus timeout" in status
    assert text_of(page, "no-measurement") == "The meter has not delivered a measurement."
    assert text_of(page, "voltage-L1") == "–"


def test_smartmeter_page_in_german(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant))
    user_client.post(reverse("set_language"), {"language": "de", "next": reverse("meter:smartmeter")})

    page = smartmeter(user_client)

    assert "Messwerte je Phase" in page
    assert "Spannung" in page
    assert text_of(page, "voltage-L1") == "230,4 V"
    assert text_of(page, "active-power-L1") == "1.180 W"
    assert text_of(page, "total-active-power-direction") == "Bezug"


def test_smartmeter_needs_login(client: Client, plant: Plant) -> None:
    response = client.get(reverse("meter:smartmeter"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))
