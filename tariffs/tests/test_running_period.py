"""The running hour, day, week, month and year count the energy so far (TAR-2).

The history writes an hour once it is over; the records come every 5 minutes; the latest cycle
(the live snapshot) carries the running 5 minutes. The page and the API of the current period
add all three, so the day view of this morning agrees with its hour view.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import redisconn
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from meter.models import EnergyRecord
from plant.models import Plant
from tariffs import services
from tariffs.models import EnergyHour
from tariffs.pricing import floor_local_hour, local_midnight
from tests.pages import by_testid, publish

BERLIN = ZoneInfo("Europe/Berlin")
STEP = dt.timedelta(minutes=5)
FLAT = [[0] * 24 for _ in range(7)]


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def record(plant: Plant, moment: dt.datetime, import_wh: float, export_wh: float = 0.0) -> EnergyRecord:
    return EnergyRecord(plant=plant, time=moment, active_import_wh=import_wh, active_export_wh=export_wh,
                        reactive_import_varh=0, reactive_export_varh=0, apparent_import_vah=0, apparent_export_vah=0)  # fmt: skip


def live_state(plant: Plant, moment: dt.datetime, import_wh: float, export_wh: float = 0.0) -> PlantState:
    return PlantState(
        plant_id=plant.pk,
        timestamp=moment,
        sequence=1,
        meter=None,
        meter_status=DeviceStatus(name="meter", online=True, last_seen=moment),
        flow=EnergyFlow(
            grid_power_w=900.0,
            pv_power_w=None,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=900.0,
            wallbox_power_w=None,
        ),
        totals=EnergyCounters(active_import_wh=import_wh, active_export_wh=export_wh),
    )


@pytest.fixture
def today(plant: Plant) -> dict[str, object]:
    """Records every 5 minutes since local midnight (100 Wh each), the finished hours in the history,
    and a snapshot 2 minutes after the last record with 40 Wh more (the running interval)."""
    now = timezone.now()
    midnight = local_midnight(now.astimezone(BERLIN).date(), BERLIN)
    intervals = int((now - midnight) / STEP)
    EnergyRecord.objects.bulk_create(
        record(plant, midnight + n * STEP, 5_000.0 + 100.0 * n, 20.0 * n) for n in range(intervals + 1)
    )
    last = midnight + intervals * STEP
    services.update_energy_history(plant)
    live_at = last + dt.timedelta(minutes=2)
    publish(live_state(plant, live_at, 5_000.0 + 100.0 * intervals + 40.0, 20.0 * intervals + 7.0))
    services.save_version(plant, "purchase", valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                          basic_charge=Decimal(0), names=["flat"], prices=[Decimal("0.30")], grid=FLAT)  # fmt: skip
    return {"midnight": midnight, "intervals": intervals, "live_at": live_at, "day": now.astimezone(BERLIN).date()}


def costs(client: Client, plant: Plant, **params: str) -> dict:
    response = client.get(reverse("api-plant-costs", args=[plant.pk]), params)
    assert response.status_code == 200, response.content
    return response.json()


def kwh(wh: float) -> str:
    return str((Decimal(str(wh)) / 1000).quantize(Decimal("0.001")))


@pytest.mark.parametrize("period", ["day", "week", "month", "year"])
def test_the_running_period_counts_the_energy_so_far(
    user_client: Client, plant: Plant, today: dict, period: str
) -> None:
    so_far_wh = 100.0 * today["intervals"] + 40.0  # since midnight: records, then the running interval

    body = costs(user_client, plant, period=period, date=today["day"].isoformat())

    assert body["energy_kwh"] == kwh(so_far_wh)
    assert Decimal(body["cost"]) == (Decimal(kwh(so_far_wh)) * Decimal("0.30")).quantize(Decimal("0.01"))
    assert dt.datetime.fromisoformat(body["measured_until"]) == today["live_at"]
    feed_in = costs(user_client, plant, period=period, date=today["day"].isoformat(), direction="feed_in")
    assert feed_in["energy_kwh"] == kwh(20.0 * today["intervals"] + 7.0)


def test_the_day_view_agrees_with_the_hour_view_of_the_same_moment(
    user_client: Client, plant: Plant, today: dict
) -> None:
    day = costs(user_client, plant, period="day", date=today["day"].isoformat())
    hour = costs(user_client, plant, period="hour", date=today["day"].isoformat())  # the current hour by default

    current = floor_local_hour(today["live_at"], BERLIN)
    this_hour = next(b for b in day["buckets"] if dt.datetime.fromisoformat(b["start"]) == current)
    assert hour["energy_kwh"] is not None
    assert this_hour["energy_kwh"] == hour["energy_kwh"]
    assert this_hour["cost"] == hour["cost"]
    # The running hour: from its start to the latest cycle (the last bar holds the running 5 minutes).
    assert hour["energy_kwh"] == kwh(100.0 * ((today["live_at"] - current) // STEP) + 40.0)
    # Finished hours come from the history and are not counted twice.
    assert EnergyHour.objects.filter(plant=plant, start__gte=current).count() == 0
    assert sum(Decimal(b["energy_kwh"]) for b in day["buckets"] if b["energy_kwh"]) == Decimal(day["energy_kwh"])


def test_without_a_snapshot_the_records_count_up_to_the_last_one(
    user_client: Client, plant: Plant, today: dict
) -> None:
    from plant import live

    redisconn.sync_redis().delete(live.state_key(plant.pk))
    body = costs(user_client, plant, period="day", date=today["day"].isoformat())
    assert body["energy_kwh"] == kwh(100.0 * today["intervals"])


def test_a_period_that_is_over_is_not_running(user_client: Client, plant: Plant, today: dict) -> None:
    yesterday = (today["day"] - dt.timedelta(days=1)).isoformat()
    body = costs(user_client, plant, period="day", date=yesterday)
    assert body["energy_kwh"] is None and body["measured_until"] is None
    page = user_client.get(reverse("tariffs:overview"), {"period": "day", "date": yesterday}).content.decode()
    assert 'data-testid="so-far"' not in page


def test_the_tariff_page_opens_on_today_with_the_energy_so_far(user_client: Client, plant: Plant, today: dict) -> None:
    page = user_client.get(reverse("tariffs:overview")).content.decode()

    assert by_testid(page, "period-day")[1].get("aria-current") == "page"
    so_far_kwh = (100.0 * today["intervals"] + 40.0) / 1000
    assert by_testid(page, "energy-total")[0] == f"{so_far_kwh:.2f} kWh"
    api = costs(user_client, plant, period="day", date=today["day"].isoformat())
    assert by_testid(page, "cost-total")[0] == f"{api['cost']} EUR"
    local = today["live_at"].astimezone(BERLIN)
    assert by_testid(page, "so-far")[0] == f"The period is running: energy so far, measured up to {local:%H:%M:%S}."


def test_the_hour_bars_of_a_running_hour_end_at_the_latest_cycle(
    user_client: Client, plant: Plant, today: dict
) -> None:
    hour = costs(user_client, plant, period="hour", date=today["day"].isoformat())
    filled = [b for b in hour["buckets"] if b["energy_kwh"] is not None]
    assert filled, "the running hour has bars"
    assert filled[-1]["energy_kwh"] == "0.040"  # the running 5 minutes, from the snapshot
    assert all(b["energy_kwh"] == "0.100" for b in filled[:-1])
    assert hour["buckets"][len(filled) :] == [b for b in hour["buckets"] if b["energy_kwh"] is None]
    assert len(hour["buckets"]) == 12
