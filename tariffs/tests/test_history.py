"""The hourly energy history from the monotonic totals: no hole after an outage, gaps marked (MET-5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from meter.models import EnergyRecord, MeterLog
from plant.models import Plant
from tariffs import services
from tariffs.history import interval_energy
from tariffs.models import EnergyHour
from tariffs.pricing import HOUR, buckets, local_midnight

BERLIN = ZoneInfo("Europe/Berlin")
STEP = dt.timedelta(minutes=5)
T0 = dt.datetime(2026, 6, 8, tzinfo=dt.UTC)


def test_energy_of_intervals_is_the_difference_of_the_totals() -> None:
    times = [T0 + n * STEP for n in range(25)]  # two hours
    values = [(1000.0 + 10.0 * n, 5.0 * n) for n in range(25)]

    [first, second] = interval_energy(times, values, [(T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)])

    assert first.energy_mwh == (120_000, 60_000) and not first.gap
    assert second.energy_mwh == (120_000, 60_000) and not second.gap


def test_an_hour_the_records_do_not_reach_past_is_not_counted_yet() -> None:
    times = [T0 + n * STEP for n in range(18)]  # up to 01:25
    energy = interval_energy(times, [(float(n),) for n in range(18)], [(T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)])
    assert [e.start for e in energy] == [T0]


def test_energy_across_an_outage_is_shared_over_the_missing_time_and_marked() -> None:
    # Records until 01:00, then nothing until 04:00; 3 kWh came in meanwhile.
    times = [T0 + n * STEP for n in range(13)] + [T0 + 4 * HOUR + n * STEP for n in range(13)]
    values = [(0.0,)] * 13 + [(3000.0 + 10.0 * n,) for n in range(13)]
    edges = [(T0 + n * HOUR, T0 + (n + 1) * HOUR) for n in range(5)]

    energy = interval_energy(times, values, edges)

    assert [e.energy_mwh[0] for e in energy] == [0, 1_000_000, 1_000_000, 1_000_000, 120_000]
    assert [e.gap for e in energy] == [False, True, True, True, False]


@given(
    steps=st.lists(st.integers(1, 40), min_size=2, max_size=200),
    increments=st.lists(st.floats(0, 5000, allow_nan=False), min_size=200, max_size=200),
)
def test_hours_always_add_up_to_the_counter_difference(steps: list[int], increments: list[float]) -> None:
    """Whatever the outages, the hours between two records sum exactly to the difference of their totals."""
    times, values, total, moment = [], [], 123.456, T0
    for n, step in enumerate(steps):
        moment += step * STEP
        total += increments[n]
        times.append(moment)
        values.append((total,))
    first_hour = times[0].replace(minute=0) + HOUR
    last_hour = times[-1].replace(minute=0)
    edges = [
        (first_hour + n * HOUR, first_hour + (n + 1) * HOUR) for n in range(round((last_hour - first_hour) / HOUR))
    ]
    energy = interval_energy(times, values, edges)
    if not energy:
        return
    start_total = interval_energy(times, values, [(times[0], energy[0].start)])
    end_total = interval_energy(times, values, [(times[0], energy[-1].end)])
    assert sum(e.energy_mwh[0] for e in energy) == end_total[0].energy_mwh[0] - (
        start_total[0].energy_mwh[0] if start_total else 0
    )
    assert all(e.energy_mwh[0] >= 0 for e in energy)


# ---- with the database --------------------------------------------------------------------------


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def record_day(plant: Plant, day: dt.date, *, outage: tuple[int, int] | None = None, watts: float = 1200.0) -> None:
    """Totals every 5 minutes over a local day (and the first record of the next), none during ``outage`` (local hours)."""
    start = local_midnight(day, BERLIN)
    end = local_midnight(day + dt.timedelta(days=1), BERLIN)
    rows, moment, n = [], start, 0
    while moment <= end:
        local_hour = round((moment - start) / HOUR, 6)
        if outage is None or not (outage[0] < local_hour < outage[1]):
            import_wh = 50_000.0 + n * watts * 5 / 60 + (n % 7) * 0.013  # a little noise below the Wh
            rows.append(EnergyRecord(plant=plant, time=moment, active_import_wh=import_wh, active_export_wh=n * 3.3,
                                     reactive_import_varh=0, reactive_export_varh=0, apparent_import_vah=0,
                                     apparent_export_vah=0))  # fmt: skip
        moment += STEP
        n += 1
    EnergyRecord.objects.bulk_create(rows)


def test_a_three_hour_outage_keeps_the_day_total_and_marks_the_hours(plant: Plant) -> None:
    day = dt.date(2026, 6, 8)
    record_day(plant, day, outage=(10, 13))

    written = services.update_energy_history(plant)

    assert written == 24
    start, end = local_midnight(day, BERLIN), local_midnight(day + dt.timedelta(days=1), BERLIN)
    first = EnergyRecord.objects.get(plant=plant, time=start)
    last = EnergyRecord.objects.get(plant=plant, time=end)
    report = services.cost_report(plant, period="day", day=day, direction="purchase")
    expected = Decimal(round(last.active_import_wh * 1000) - round(first.active_import_wh * 1000)).scaleb(-6)
    assert Decimal(report["energy_kwh"]) == expected.quantize(Decimal("0.001"))
    assert sum(Decimal(b["energy_kwh"]) for b in report["buckets"]) == Decimal(report["energy_kwh"])
    gaps = [b["start"][11:13] for b in report["buckets"] if b["gap"]]
    assert gaps == ["10", "11", "12"]
    assert report["gap"] is True
    # The outage's energy went to the hours it belongs to: 1.2 kW for three hours.
    assert [round(float(b["energy_kwh"]), 1) for b in report["buckets"][10:13]] == [1.2, 1.2, 1.2]


def test_the_history_waits_for_the_end_of_an_outage_and_then_fills_it(plant: Plant) -> None:
    day = dt.date(2026, 6, 8)
    record_day(plant, day, outage=(10, 13))
    later = EnergyRecord.objects.filter(plant=plant, time__gt=local_midnight(day, BERLIN) + 10 * HOUR)
    kept = list(later)
    later.delete()

    assert services.update_energy_history(plant) == 10  # 00:00-10:00: the records reach no further
    EnergyRecord.objects.bulk_create(kept)
    assert services.update_energy_history(plant) == 14
    assert list(EnergyHour.objects.filter(plant=plant, gap=True).values_list("start", flat=True)) == [
        local_midnight(day, BERLIN) + n * HOUR for n in (10, 11, 12)
    ]
    assert services.update_energy_history(plant) == 0


def test_hours_are_local_hours_also_on_the_day_with_25(plant: Plant) -> None:
    day = dt.date(2026, 10, 25)
    record_day(plant, day)

    assert services.update_energy_history(plant) == 25
    report = services.cost_report(plant, period="day", day=day, direction="feed_in")
    assert len(report["buckets"]) == 25
    assert [b["start"][11:16] for b in report["buckets"][:4]] == ["00:00", "01:00", "02:00", "02:00"]


def test_device_energy_comes_from_the_five_minute_averages(plant: Plant) -> None:
    day = dt.date(2026, 6, 8)
    record_day(plant, day)
    start = local_midnight(day, BERLIN)
    MeterLog.objects.bulk_create(
        MeterLog(plant=plant, start=start + n * STEP, samples=300, grid_power_w=0.0, grid_power_min_w=0.0,
                 grid_power_max_w=0.0, reactive_power_var=0.0, apparent_power_va=0.0, frequency_hz=50.0,
                 power_l1_w=0.0, power_l2_w=0.0, power_l3_w=0.0, voltage_l1_v=230.0, voltage_l2_v=230.0,
                 voltage_l3_v=230.0, current_l1_a=0.0, current_l2_a=0.0, current_l3_a=0.0,
                 pv_power_w=3000.0, house_power_w=1000.0, battery_power_w=600.0 if n < 6 else -600.0)
        for n in range(12)
    )  # fmt: skip

    services.update_energy_history(plant)

    hour = EnergyHour.objects.get(plant=plant, start=start)
    assert (hour.pv_mwh, hour.house_mwh) == (3_000_000, 1_000_000)
    assert (hour.battery_charge_mwh, hour.battery_discharge_mwh) == (300_000, 300_000)
    assert hour.wallbox_mwh is None  # no wallbox
    assert EnergyHour.objects.get(plant=plant, start=start + HOUR).pv_mwh is None


def test_history_is_kept_more_than_two_years(plant: Plant) -> None:
    now = timezone.now()
    for age_days in (10, 2 * 366, 2 * 366 + 40):
        EnergyHour.objects.create(plant=plant, start=now - dt.timedelta(days=age_days), purchase_mwh=1, feed_in_mwh=0)
    assert services.purge_history(now) == 1
    assert EnergyHour.objects.count() == 2


def test_the_year_view_has_twelve_months(plant: Plant) -> None:
    for n, (start, _) in enumerate(buckets("year", dt.date(2026, 1, 1), BERLIN)):
        EnergyHour.objects.create(plant=plant, start=start + 5 * HOUR, purchase_mwh=(n + 1) * 1_000_000, feed_in_mwh=0)
    report = services.cost_report(plant, period="year", day=dt.date(2026, 5, 5), direction="purchase")
    assert [b["energy_kwh"] for b in report["buckets"]] == [f"{n}.000" for n in range(1, 13)]
    assert report["cost"] is None and report["tariff"] is False


def test_beat_runs_the_tariff_jobs() -> None:
    from ksem_site.celery import app

    schedule = app.conf.beat_schedule
    assert schedule["tariffs energy history"]["task"] == "tariffs.tasks.update_energy_history"
    assert schedule["tariffs dynamic prices"]["task"] == "tariffs.tasks.fetch_dynamic_prices"
    assert "plant cycle tick" in schedule  # the settings' own jobs are still there


def test_the_history_task_covers_every_plant(plant: Plant) -> None:
    from tariffs.tasks import update_energy_history

    record_day(plant, dt.date(2026, 6, 8))
    other = Plant.objects.create(name="Barn", time_zone="UTC")
    assert update_energy_history.run() == 24
    assert not EnergyHour.objects.filter(plant=other).exists()
