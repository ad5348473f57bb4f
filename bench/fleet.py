"""How many plants a worker core cycles at 1 Hz (issue 18): the fleet grown until it fails.

Each step starts ``python -m simulator --plants N`` (every plant a grid meter, two inverters, a
PLENTICORE and a PIKO IQ, each its own Modbus TCP server, and an ENECTOR on an RS485 line of its
own behind a serial server, Modbus RTU over TCP, with a car plugged in all day; no house battery),
creates the N plants (meter, both inverters, the box on an RS485 gateway, feed-in limitation on
so setpoints are written every cycle; ``--no-wallbox`` leaves the box out), and runs the
product as in production: 1 or 2 Celery worker processes (threads pool, ``-c 4``, the sub-second
guard on at its default 0.2 s) consuming their own realtime queues, one beat. After a warm-up it
watches every plant's snapshot in Redis for ``--window-s`` and measures:

* cycle age: ``now - snapshot time`` sampled every 0.25 s per plant (p50/p99/max);
* skipped ticks: per plant, every gap between two snapshots beyond 1.5 s counts its missing ticks;
* CPU of the worker processes (``/proc``), per plant cycle; their resident memory;
* Redis load (the bench's own redis-server: commands per second and its CPU);
* database load: on PostgreSQL (``DATABASE_URL``) the transactions and rows per second from
  ``pg_stat_database``; on SQLite none can be read from a server, and the figure says so.

A step passes with p99 cycle age <= 1.5 s, no skipped tick and every device online in the last
snapshots (cycles of plants whose devices do not answer prove nothing); N grows (``--steps``) until a
step fails or the steps run out. ``plants_per_core`` is the largest passing N over the worker
processes (one process runs its cycles on about one core: one asyncio device loop, the GIL).

The simulator, the bench and the workers share the machine's cores; results say how many. The
simulated serial servers send at the line's speed (57600 baud), so a box's seven reads take about
80 ms of line time a cycle, as on a real RS485 line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, django_env, percentile, summary, write_result

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCENARIO: dict[str, Any] = {
    "battery": None,
    "wallbox": None,
    "inverters": [
        {"name": "roof", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 9000},
        {"name": "garage", "type": "piko_iq", "max_ac_w": 5500, "pv_peak_w": 5000},
    ],
}
# The box of every plant (``--no-wallbox``: none): set up at 100, a car plugged in all day.
WALLBOX: dict[str, Any] = {
    "name": "Carport",
    "type": "enector_11",
    "line": "B",
    "address": 100,
    "cars": [
        {"name": "Estate", "plug": "00:00", "unplug": "23:59", "phases": 3, "max_current_a": 16,
         "min_current_a": 6, "capacity_wh": 77000, "soc_pct": 20},
    ],
}  # fmt: skip
MAX_AGE_P99_S = 1.5
# What beat sends besides the tick (every 15 minutes, every hour): --batch-jobs sends them at the
# start of the window, to see what they cost the cycles.
BATCH_JOBS = ("forecast", "purge old meter logs", "purge old events")
CONCURRENCY = [4]  # threads per worker process (-c), as the product starts it unless --concurrency


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Step:
    """One fleet of N plants with W workers, as subprocesses."""

    scenario: dict[str, Any] = SCENARIO
    box: dict[str, Any] = WALLBOX

    def __init__(self, plants: int, workers: int, tmp: Path, guard: str, wallbox: bool = True) -> None:
        self.plants, self.workers, self.tmp, self.wallbox = plants, workers, tmp, wallbox
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        from tests.stack import child_env

        self.env = child_env()
        self.env["DJANGO_SETTINGS_MODULE"] = "ksem_site.settings"
        self.env.pop("KSEM_GUARD_PERIOD_S", None)
        if guard != "default":
            self.env["KSEM_GUARD_PERIOD_S"] = guard

    def start(self, name: str, command: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    # What a subclass (bench/soak.py) varies: the simulator's extra arguments, how long it may
    # take to start, the workers' node names and log level, the beat's schedule file.
    start_timeout_s = 120.0
    node_prefix = "bench"
    worker_log_level = "warning"

    def simulator_extra(self) -> list[str]:
        return []

    def beat_schedule(self) -> Path:
        return self.tmp / f"beat-{self.plants}-{self.workers}"

    def run_simulator(self) -> list[dict[str, int]]:
        scenario, ports = self.tmp / "scenario.json", self.tmp / f"ports-{self.plants}.json"
        scenario.write_text(json.dumps({**self.scenario, "wallboxes": [self.box] if self.wallbox else []}))
        self.start(
            "simulator",
            [
                str(BIN / "python"), "-m", "simulator", "--plants", str(self.plants), "--seed", "3",
                "--scenario", str(scenario), "--port", "0", "--inverter-port-base", "0", "--wallbox-port-base", "0",
                *self.simulator_extra(), "--ports-file", str(ports), "--log-level", "WARNING",
            ],
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if ports.exists():
                return list(json.loads(ports.read_text())["plants"])
            time.sleep(0.2)
        raise RuntimeError("the simulator did not start")

    def run_product(self) -> None:
        from tests.stack import celery_worker_command

        for number in range(1, self.workers + 1):
            node = f"{self.node_prefix}{number}@fleet"
            self.start(f"worker{number}", celery_worker_command(node, CONCURRENCY[0], self.worker_log_level))
        self.start(
            "beat", [str(BIN / "celery"), "-A", "ksem_site", "beat", "-l", "warning", "-s", str(self.beat_schedule())]
        )

    def worker_pids(self) -> list[int]:
        return [p.pid for name, p in self.processes.items() if name.startswith("worker")]


def create_plants(ports: list[dict[str, int]]) -> list[int]:
    from django.utils import timezone

    from inverters.models import Inverter, PowerSettings
    from meter.models import Meter
    from plant.models import Plant
    from plant.options import WALLBOX as WALLBOX_OPTION
    from plant.options import set_option
    from wallbox.models import Wallbox

    Plant.objects.all().delete()
    ids = []
    for number, devices in enumerate(ports, start=1):
        plant = Plant.objects.create(name=f"Bench plant {number}")
        Meter.objects.create(plant=plant, port=devices["meter"], timeout_s=0.5)
        for position, (name, kind, max_ac_w) in enumerate(
            (("roof", "plenticore", 10_000.0), ("garage", "piko_iq", 5_500.0)), start=1
        ):
            Inverter.objects.create(
                plant=plant,
                name=name,
                type=kind,
                max_ac_w=max_ac_w,
                host="127.0.0.1",
                # Detected already: the device-info job opens a connection of its own beside the
                # cycle's (on any worker; docs/operations.md), which is not what is counted here.
                detected_at=timezone.now(),
                port=devices[name],
                unit_id=71,
                position=position,
            )
        PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=True, limit_mode="pct", limit_value=60)
        if WALLBOX["name"] in devices:  # the box's RS485 line behind its serial server
            set_option(plant, WALLBOX_OPTION, True)
            Wallbox.objects.create(
                plant=plant,
                name=WALLBOX["name"],
                interface=Wallbox.Interface.GATEWAY,
                gateway_host="127.0.0.1",
                gateway_port=devices[WALLBOX["name"]],
                address=WALLBOX["address"],
            )
        ids.append(plant.pk)
    return ids


def database_load() -> dict[str, float] | None:
    """Transactions and rows touched so far (PostgreSQL's own counters); None on SQLite."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        commits, read, written = cursor.fetchone()
    return {"transactions": float(commits), "rows_read": float(read), "rows_written": float(written)}


def redis_load() -> dict[str, float]:
    from redisconn import sync_redis

    info = sync_redis().info()
    return {
        "commands": float(info["total_commands_processed"]),
        "cpu_s": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
    }


def watch(plant_ids: list[int], window_s: float) -> tuple[list[float], int, int, dict[str, Any]]:
    """(cycle ages sampled, skipped ticks, cycles seen, where the gaps fell) over the window."""
    from redisconn import snapshots, sync_redis

    keys = [snapshots.state_key(plant_id) for plant_id in plant_ids]
    ages: list[float] = []
    stamps: dict[int, list[float]] = {plant_id: [] for plant_id in plant_ids}
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        now = time.time()
        for plant_id, raw in zip(plant_ids, sync_redis().mget(keys), strict=True):
            if raw is None:
                ages.append(float("inf"))
                continue
            at = dt.datetime.fromisoformat(json.loads(raw)["timestamp"]).timestamp()
            ages.append(max(0.0, now - at))
            if not stamps[plant_id] or stamps[plant_id][-1] != at:
                stamps[plant_id].append(at)
        time.sleep(0.25)
    skipped = 0
    for times in stamps.values():
        skipped += sum(round(b - a) - 1 for a, b in itertools.pairwise(times) if b - a > 1.5)
    return ages, skipped, sum(len(t) for t in stamps.values()), gaps_by_second(stamps)


def devices_online(plant_ids: list[int]) -> dict[str, int]:
    """How many of the plants' meters, inverters and wallboxes the last snapshots show online (a
    step whose devices did not answer measured nothing)."""
    from redisconn import snapshots, sync_redis

    counts = {"meters": 0, "inverters": 0, "wallboxes": 0, "wallboxes_charging": 0}
    for raw in sync_redis().mget([snapshots.state_key(plant_id) for plant_id in plant_ids]):
        state = json.loads(raw) if raw else {}
        counts["meters"] += bool((state.get("meter_status") or {}).get("online"))
        counts["inverters"] += sum(bool(i.get("status", {}).get("online")) for i in state.get("inverters", []))
        boxes = state.get("wallboxes", [])
        counts["wallboxes"] += sum(bool(b.get("status", {}).get("online")) for b in boxes)
        counts["wallboxes_charging"] += sum(b.get("state") == "charging" for b in boxes)
    return counts


def gaps_by_second(stamps: dict[int, list[float]]) -> dict[str, Any]:
    """Where the gaps beyond 1.5 s fall: in how many distinct seconds (a stall of the whole worker
    hits many plants in one second, a slow plant one plant in many), the most plants in one."""
    seconds: dict[int, set[int]] = {}
    for plant_id, times in stamps.items():
        for a, b in itertools.pairwise(times):
            if b - a > 1.5:
                seconds.setdefault(int(b), set()).add(plant_id)
    return {
        "seconds_with_gaps": len(seconds),
        "most_plants_in_one_second": max((len(p) for p in seconds.values()), default=0),
        "plants_with_gaps": len(set().union(*seconds.values())) if seconds else 0,
        "worst_seconds": [
            {"at": dt.datetime.fromtimestamp(second, dt.UTC).strftime("%H:%M:%S"), "plants": len(plants)}
            for second, plants in sorted(seconds.items(), key=lambda item: -len(item[1]))[:5]
        ],
    }


def send_batch_jobs() -> list[str]:
    """Send the beat's periodic batch jobs (:data:`BATCH_JOBS`) now, as beat sends them."""
    from django.conf import settings

    from ksem_site.celery import app

    for name in BATCH_JOBS:
        entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE[name]
        app.send_task(str(entry["task"]), **dict(entry.get("options", {})))
    return list(BATCH_JOBS)


def run_step(
    plants: int,
    workers: int,
    tmp: Path,
    warmup_s: float,
    window_s: float,
    guard: str,
    wallbox: bool = True,
    batch_jobs: bool = False,
) -> dict[str, Any]:
    step = Step(plants, workers, tmp, guard, wallbox)
    try:
        plant_ids = create_plants(step.run_simulator())
        step.run_product()
        # Warm-up: every plant has a snapshot, then a little more for the connections to settle.
        from redisconn import snapshots, sync_redis

        deadline = time.monotonic() + 180
        keys = [snapshots.state_key(p) for p in plant_ids]
        while time.monotonic() < deadline and not all(sync_redis().mget(keys)):
            time.sleep(0.5)
        if batch_jobs:  # the Celery app's import (a second of this process's CPU) before the window
            import ksem_site.celery  # noqa: F401
        time.sleep(warmup_s)
        pids = step.worker_pids()
        cpu0, redis0, db0, t0 = sum(map(_cpu_s, pids)), redis_load(), database_load(), time.monotonic()
        sent = send_batch_jobs() if batch_jobs else []
        ages, skipped, cycles, gaps = watch(plant_ids, window_s)
        online = devices_online(plant_ids)
        elapsed = time.monotonic() - t0
        cpu_s = sum(map(_cpu_s, pids)) - cpu0
        redis1, db1 = redis_load(), database_load()
        rss = [_rss_mb(pid) for pid in pids]
        finite = [a for a in ages if a != float("inf")] or [float("inf")]
        p99 = percentile(ages, 99)
        # Cycles of plants whose devices did not answer are cheap and prove nothing.
        expected = {"meters": plants, "inverters": 2 * plants, "wallboxes": plants if wallbox else 0}
        all_online = all(online[name] >= count for name, count in expected.items())
        result: dict[str, Any] = {
            "plants": plants,
            "workers": workers,
            "batch_jobs_sent_at_start": sent,
            "devices_online_at_end": online,
            "guard_period_s": guard,
            "threads_per_worker": CONCURRENCY[0],
            "load_average_1min": round(os.getloadavg()[0], 2),
            "passed": p99 <= MAX_AGE_P99_S and skipped == 0 and all_online,
            "all_devices_online_at_end": all_online,
            "cycle_age_s": summary(finite) | {"p99_all": round(p99, 3)},
            "skipped_ticks": skipped,
            "gaps": gaps,
            "cycles_seen": cycles,
            "worker_cpu_cores": round(cpu_s / elapsed, 2),
            # Per cycle that happened (a failing step has fewer than one per plant and second); the
            # guard passes between the cycles are in it.
            "cpu_ms_per_plant_cycle": round(1000 * cpu_s / max(1, cycles), 2),
            "worker_rss_mb": [round(r, 1) for r in rss],
            "redis_commands_per_s": round((redis1["commands"] - redis0["commands"]) / elapsed),
            "redis_cpu_cores": round((redis1["cpu_s"] - redis0["cpu_s"]) / elapsed, 3),
        }
        if db0 is not None and db1 is not None:
            result["database_per_s"] = {k: round((db1[k] - db0[k]) / elapsed, 1) for k in db0}
        print(json.dumps(result), flush=True)
        return result
    finally:
        step.stop()


def headline(all_runs: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for: the best run measured (its name with it), the CPU per plant
    cycle of the product as shipped (guard at 0.2 s) and without the guard, memory per plant; of
    the runs whose plants have a wallbox when there are any."""
    with_box = {name: run for name, run in all_runs.items() if run.get("wallbox")}
    runs = with_box or all_runs
    best_name = max(runs, key=lambda name: (runs[name]["plants_per_core"], -runs[name]["steps"][0]["workers"]))
    best = runs[best_name]

    def cpu_of(guard: str) -> float | None:
        figures = [s["cpu_ms_per_plant_cycle"] for r in runs.values() for s in r["steps"]
                   if s.get("guard_period_s") == guard and s["passed"]] or [
                   s["cpu_ms_per_plant_cycle"] for r in runs.values() for s in r["steps"]
                   if s.get("guard_period_s") == guard]  # fmt: skip
        return round(sorted(figures)[len(figures) // 2], 2) if figures else None

    memory = [r["memory_mb_per_plant"] for r in runs.values() if r.get("memory_mb_per_plant") is not None]
    cpu_shipped, cpu_without_guard = cpu_of("default"), cpu_of("0")
    return {
        "plants_per_core": best["plants_per_core"],
        "plants_per_core_run": best_name,
        "cpu_ms_per_plant_cycle": cpu_shipped,
        "cpu_ms_per_plant_cycle_without_guard": cpu_without_guard,
        # What one core would carry at 1 Hz by CPU alone, if the worker had it to itself.
        "plants_per_core_by_cpu": round(1000 / cpu_shipped) if cpu_shipped else None,
        "plants_per_core_by_cpu_without_guard": round(1000 / cpu_without_guard) if cpu_without_guard else None,
        "memory_mb_per_plant": max(memory) if memory else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="10,20,40,60,80", help="plant counts to try, ascending")
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
    parser.add_argument("--warmup-s", type=float, default=8.0)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument(
        "--guard-periods",
        default="default",
        help="KSEM_GUARD_PERIOD_S values to measure, comma-separated: default (0.2 s), 0.5, 0 (off)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker process (celery -c)")
    parser.add_argument("--merge", action="store_true", help="keep the runs already in bench/results/fleet.json")
    parser.add_argument(
        "--no-wallbox", dest="wallbox", action="store_false", help="plants without their ENECTOR (meter, inverters)"
    )
    parser.add_argument(
        "--batch-jobs",
        action="store_true",
        help="send the beat's batch jobs (every plant's forecast, retention) at the start of each window",
    )
    args = parser.parse_args()
    steps = [int(n) for n in args.steps.split(",")]
    CONCURRENCY[0] = args.concurrency
    with django_env("fleet") as var_dir, tempfile.TemporaryDirectory(dir=var_dir) as tmp:
        from django.db import connection

        runs: dict[str, Any] = {}
        if args.merge and (RESULTS / "fleet.json").exists():
            runs.update(json.loads((RESULTS / "fleet.json").read_text())["figures"]["runs"])
            for run in runs.values():
                run.setdefault("wallbox", False)  # measured before plants had a box
        for guard, workers in [(g, int(w)) for g in args.guard_periods.split(",") for w in args.workers.split(",")]:
            results = []
            for plants in steps:
                results.append(
                    run_step(
                        plants, workers, Path(tmp), args.warmup_s, args.window_s, guard, args.wallbox, args.batch_jobs
                    )
                )
                if not results[-1]["passed"]:
                    break
            passing = [r for r in results if r["passed"]]
            best = passing[-1] if passing else None
            # Memory: the growth of the workers' RSS from the smallest to the largest fleet measured.
            growth = (
                (
                    results[-1]["worker_rss_mb"],
                    results[0]["worker_rss_mb"],
                    results[-1]["plants"] - results[0]["plants"],
                )
                if len(results) >= 2
                else None
            )
            name = f"{workers}_worker{'s' if workers > 1 else ''}_guard_{guard}_c{args.concurrency}"
            runs[name + ("_wallbox" if args.wallbox else "")] = {
                "wallbox": args.wallbox,
                "max_plants_passing": best["plants"] if best else 0,
                "limit_reached": bool(results) and not results[-1]["passed"],
                "plants_per_core": round(best["plants"] / workers, 1) if best else 0,
                "cpu_ms_per_plant_cycle": best["cpu_ms_per_plant_cycle"] if best else None,
                # What one core would carry at 1 Hz if the worker had it to itself: the CPU bound.
                "plants_per_core_by_cpu": round(1000 / best["cpu_ms_per_plant_cycle"]) if best else None,
                "memory_mb_per_plant": round((sum(growth[0]) - sum(growth[1])) / growth[2], 2) if growth else None,
                "steps": results,
            }
        write_result(
            "fleet",
            headline(runs)
            | {
                "runs": runs,
                "plant": "grid meter + PLENTICORE + PIKO IQ (Modbus TCP), feed-in limitation on; runs with "
                "wallbox: an ENECTOR per plant on its own RS485 gateway (Modbus RTU over TCP, 57600 baud line time)",
                "headline_of": "runs with a wallbox" if any(r.get("wallbox") for r in runs.values()) else "all runs",
                "database_vendor": connection.vendor,
                "step_window_s": args.window_s,
                "load_average_1min": sorted(
                    {s["load_average_1min"] for r in runs.values() for s in r["steps"] if "load_average_1min" in s}
                ),
                "shared_machine": "the simulator (all plants), the bench, the workers and other helpers' work "
                "share the 2 cores: load averages above",
            },
            {"plants_per_core": ">= 100", "cycle_age_p99_s": f"<= {MAX_AGE_P99_S}", "skipped_ticks": 0},
        )


if __name__ == "__main__":
    main()
