"""Old log data is removed automatically: 5-minute averages after 14 days, energy records after 2 years."""

from __future__ import annotations

import datetime as dt

import pytest

from meter.models import EnergyRecord, MeterLog
from meter.tasks import purge_old_logs
from plant.models import Plant

pytestmark = pytest.mark.django_db


def log_at(plant: Plant, start: dt.datetime) -> None:
    MeterLog.objects.create(
        plant=plant, start=start, samples=1, grid_power_w=1, grid_power_min_w=1, grid_power_max_w=1,
        reactive_power_var=0, apparent_power_va=1, frequency_hz=50, power_l1_w=0, power_l2_w=0, power_l3_w=0,
        voltage_l1_v=230, voltage_l2_v=230, voltage_l3_v=230, current_l1_a=0, current_l2_a=0, current_l3_a=0,
    )  # fmt: skip


def record_at(plant: Plant, time: dt.datetime) -> None:
    EnergyRecord.objects.create(
        plant=plant, time=time, active_import_wh=1, active_export_wh=0, reactive_import_varh=0,
        reactive_export_varh=0, apparent_import_vah=0, apparent_export_vah=0,
    )  # fmt: skip


def test_purge_keeps_fourteen_days_of_averages_and_two_years_of_energy():
    plant = Plant.objects.create(name="Retention")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    recent_log, old_logs = now - dt.timedelta(days=13, hours=23), [now - dt.timedelta(days=d) for d in (14.01, 40)]
    for start in [recent_log, *old_logs]:
        log_at(plant, start)
    kept_records = [now - dt.timedelta(days=400), now - dt.timedelta(days=2 * 366 - 1)]
    for time in [*kept_records, now - dt.timedelta(days=2 * 366 + 5)]:
        record_at(plant, time)

    purge_old_logs.run()

    assert list(MeterLog.objects.values_list("start", flat=True)) == [recent_log]
    assert sorted(EnergyRecord.objects.values_list("time", flat=True)) == sorted(kept_records)
