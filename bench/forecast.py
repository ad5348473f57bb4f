"""The forecast (issue 19 part 1): computation time and the error on replayed days.

- ``compute_ms``: ``energy.forecast.compute`` for one plant with a full history (7 days of PV and
  4 weeks of house power as 5-minute averages), repeated; and for 500 plants one after the other
  (different locations and peaks, the same amount of history), as the 15-minute job would.
- ``job_ms``: the stored path for plants in the database (``forecast.services.recompute_all``:
  reading 14 days of the 5-minute log, computing, storing), per plant.
- ``forecast_mae_pct``: mean absolute error per day as a share of the day's energy, PV, on the
  simulator's clear day after a clear week and cloudy day after a cloudy week (mean of the two);
  the per-day figures include a day cloudier than the week before (replay/forecast_error.py).
- ``curtailed_wh_on`` / ``curtailed_wh_off``: the clear June day of grid-optimised battery charging
  (simulator/scenarios/gridopt-clear.json: 10.5 kWp, feed-in limit 6 kW, 10 kWh battery from 12 %,
  05:00-22:00 local, 10 s cycle) replayed with ``grid_optimised`` on and off (two replay processes
  at once), with the battery's SoC at 16:00 local and at the end (docs/battery.md).
Targets: one plant p99 <= 100 ms, 500 plants <= 60 s (well inside the 15 minutes), MAE <= 15 %,
curtailed with grid-optimised charging <= 10 % of without.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import django_env, summary, write_result


def histories(now: dt.datetime, site, days_pv: int = 7, days_load: int = 28):
    from energy import forecast as fc

    first = int(now.timestamp()) - days_load * 86_400
    pv, load = [], []
    pv_since = int(now.timestamp()) - days_pv * 86_400
    for n in range(days_load * 288):
        t_s = first + n * 300
        start = dt.datetime.fromtimestamp(t_s, dt.UTC)
        load.append((start, 300.0 + 200.0 * ((n // 12) % 7)))
        if t_s >= pv_since:
            pv.append((start, 0.8 * fc.clear_sky_w(t_s + 150, site)))
    return pv, load


ROOT = Path(__file__).resolve().parents[1]
CLEAR_DAY = ROOT / "simulator" / "scenarios" / "gridopt-clear.json"


def replayed_clear_day() -> dict[str, float]:
    """The clear June day with grid-optimised charging on and off, replayed at once in two processes."""
    data = json.loads(CLEAR_DAY.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for on in (True, False):
            data["product"]["battery_management"]["grid_optimised"] = on
            name = "on" if on else "off"
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(data), encoding="utf-8")
            command = [
                sys.executable,
                str(ROOT / "manage.py"),
                "replay",
                str(path),
                "--out",
                f"{tmp}/{name}",
                "--quiet",
            ]
            runs[name] = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        out: dict[str, float] = {}
        for name, process in runs.items():
            if process.wait() != 0:
                raise SystemExit(f"the {name} replay failed")
            summary = json.loads((Path(tmp) / name / "summary.json").read_text(encoding="utf-8"))
            with (Path(tmp) / name / "trace.csv").open(encoding="utf-8") as stream:
                rows = list(csv.DictReader(stream))
            four = next(r for r in rows if r["time"] >= "2025-06-21T14:00")  # 16:00 local
            out[f"curtailed_wh_{name}"] = round(summary["curtailed_wh"], 1)
            out[f"soc_at_16_pct_{name}"] = round(float(four["battery_soc_pct"]), 1)
            out[f"soc_at_end_pct_{name}"] = round(float(rows[-1]["battery_soc_pct"]), 1)
            out[f"replay_wall_s_{name}"] = summary["wall_s"]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--plants", type=int, default=500)
    parser.add_argument("--db-plants", type=int, default=20)
    args = parser.parse_args()

    from energy import forecast as fc
    from replay.forecast_error import all_days

    now = dt.datetime(2026, 6, 21, 10, 2, tzinfo=dt.UTC)
    site = fc.Site(51.0, 10.0, 10_000.0)
    pv, load = histories(now, site)
    one_ms = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        fc.compute(now, site, pv, load)
        one_ms.append((time.perf_counter() - started) * 1000)

    sites = [fc.Site(47.0 + (n % 80) / 10, 6.0 + (n % 90) / 10, 3_000.0 + 50.0 * n) for n in range(args.plants)]
    started = time.perf_counter()
    for plant_site in sites:
        fc.compute(now, plant_site, pv, load)
    many_ms = (time.perf_counter() - started) * 1000

    clear_day = replayed_clear_day()
    days = all_days()
    by_name = {day.name: day for day in days}
    mae = (by_name["clear"].pv_mae_pct + by_name["cloudy"].pv_mae_pct) / 2

    with django_env("forecast"):
        from django.utils import timezone

        from forecast import services
        from inverters.models import Inverter
        from meter.models import MeterLog
        from plant.models import Plant

        db_now = timezone.now()
        db_site = fc.Site(51.0, 10.0, 8_000.0)
        for n in range(args.db_plants):
            plant = Plant.objects.create(name=f"bench {n}", time_zone="Europe/Berlin")
            Inverter.objects.create(
                plant=plant, name="Roof", type=Inverter.Type.PLENTICORE, max_ac_w=8000, host="10.0.0.2"
            )
            first = int(fc.slot_floor(db_now.timestamp())) - 14 * 86_400
            MeterLog.objects.bulk_create(
                [
                    MeterLog(
                        plant=plant,
                        start=dt.datetime.fromtimestamp(first + k * 300, dt.UTC),
                        samples=300,
                        pv_power_w=0.7 * fc.clear_sky_w(first + k * 300 + 150, db_site),
                        house_power_w=400.0,
                    )
                    for k in range(14 * 288)
                ],
                batch_size=2000,
            )
        started = time.perf_counter()
        done = services.recompute_all()
        job_ms = (time.perf_counter() - started) * 1000

    write_result(
        "forecast",
        {
            "slots": fc.SLOTS,
            "history_samples": {"pv": len(pv), "load": len(load)},
            "compute_ms": {
                "one_plant": summary(one_ms),
                "plants": args.plants,
                "all_plants_total": round(many_ms, 1),
                "per_plant_mean": round(many_ms / args.plants, 3),
            },
            "job_ms": {
                "plants": done,
                "total": round(job_ms, 1),
                "per_plant": round(job_ms / max(done, 1), 3),
                "log_days": 14,
            },
            "forecast_mae_pct": round(mae, 1),
            "curtailed_wh_on": clear_day["curtailed_wh_on"],
            "curtailed_wh_off": clear_day["curtailed_wh_off"],
            "grid_optimised_clear_day": clear_day,
            "days": [day.as_json() for day in days],
        },
        {
            "compute_ms.one_plant.p99": 100.0,
            "compute_ms.all_plants_total": 60_000.0,
            "forecast_mae_pct": 15.0,
            "curtailed_wh_on": round(0.1 * clear_day["curtailed_wh_off"], 1),
        },
    )


if __name__ == "__main__":
    main()
