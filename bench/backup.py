"""Backup and restore of a plant with two years of hourly energy history and 14 days of 5-minute
meter log (DEV-6): seconds and peak resident memory of ``manage.py backup create`` and
``manage.py backup restore``, each in a process of its own (peak RSS from ``wait4``).

``--history-minutes 5`` measures the worst case the product can hold instead (an energy record
every 5 minutes for two years, 210,240 rows) to show that memory stays flat as the history grows.
Targets: each under 60 s, peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import django_env, write_result

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench backup password"


def populate(history_minutes: int) -> dict[str, int]:
    from meter.models import EnergyRecord, Meter, MeterLog
    from plant.models import Plant

    plant = Plant.objects.create(name="bench")
    Meter.objects.create(plant=plant)
    end = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    step = dt.timedelta(minutes=history_minutes)
    count = int(dt.timedelta(days=730) / step)
    batch: list[Any] = []
    for i in range(count):
        t = end - (count - i) * step
        batch.append(
            EnergyRecord(
                plant=plant,
                time=t,
                active_import_wh=1e6 + i * 123.4,
                active_export_wh=2e6 + i * 98.7,
                reactive_import_varh=i * 1.1,
                reactive_export_varh=i * 2.2,
                apparent_import_vah=i * 3.3,
                apparent_export_vah=i * 4.4,
            )
        )
        if len(batch) == 5000:
            EnergyRecord.objects.bulk_create(batch)
            batch = []
    EnergyRecord.objects.bulk_create(batch)
    logs = 14 * 24 * 12
    values = {name: 0.0 for name in (
        "grid_power_w", "grid_power_min_w", "grid_power_max_w", "reactive_power_var", "apparent_power_va",
        "frequency_hz", "power_l1_w", "power_l2_w", "power_l3_w", "voltage_l1_v", "voltage_l2_v", "voltage_l3_v",
        "current_l1_a", "current_l2_a", "current_l3_a", "pv_power_w", "battery_power_w", "battery_soc_pct",
        "house_power_w", "wallbox_power_w")}  # fmt: skip
    rows = []
    for i in range(logs):
        wave = math.sin(i / 20)
        rows.append(
            MeterLog(
                plant=plant,
                start=end - (logs - i) * dt.timedelta(minutes=5),
                samples=300,
                **{k: 1000 * wave + n for n, k in enumerate(values)},
            )
        )
    MeterLog.objects.bulk_create(rows, batch_size=2000)
    return {"energy_records": count, "meter_log_rows": logs}


def timed(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``manage.py *args`` in a child process."""
    env = dict(os.environ, KSEM_BACKUP_PASSWORD=PASSWORD)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({child.returncode})")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history-minutes", type=int, default=60, help="energy history interval (60: hourly)")
    args = parser.parse_args()
    with django_env("backup") as var_dir:
        from django.conf import settings

        sizes = populate(args.history_minutes)
        out = var_dir / "bench.ksembak"
        backup_s, backup_mb = timed(["backup", "create", "--out", str(out), "--quiet"])
        restore_s, restore_mb = timed(["backup", "restore", str(out), "--quiet"])
        from meter.models import EnergyRecord

        assert EnergyRecord.objects.count() == sizes["energy_records"], "the restore lost rows"
        name = "backup" if args.history_minutes == 60 else f"backup-{args.history_minutes}min"
        write_result(
            name,
            {
                **sizes,
                "history_minutes": args.history_minutes,
                "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                "file_mb": round(out.stat().st_size / 2**20, 2),
                "backup_s": round(backup_s, 2),
                "restore_s": round(restore_s, 2),
                "backup_peak_rss_mb": round(backup_mb, 1),
                "restore_peak_rss_mb": round(restore_mb, 1),
                "peak_rss_mb": round(max(backup_mb, restore_mb), 1),
            },
            {"backup_s": 60, "restore_s": 60, "peak_rss_mb": 300},
        )


if __name__ == "__main__":
    main()
