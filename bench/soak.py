"""Soak (issue 18 part 6): many plants for a simulated day, as in production; what grows.

``python -m bench.soak`` starts ``python -m simulator --plants N --speed S`` (every plant a grid
meter, two inverters and an ENECTOR on an RS485 gateway with a car plugged in, as
``bench/fleet.py``), creates the N plants (feed-in limitation on, so
setpoints are written every cycle), and runs 2 Celery worker processes and one beat for
``--real-s`` seconds of wall-clock time. It measures:

* memory of every process (worker, beat, simulator, Redis): resident set size sampled every
  ``--sample-s``; growth per hour from a least-squares line through the samples after the warm-up
  (start-up allocations are not growth);
* skipped cycles: per plant, every gap between two snapshots beyond 1.5 s counts its missing
  ticks (the snapshot of every plant read from Redis every 0.5 s);
* database growth: bytes per plant per day of the tables the cycle writes (5-minute log, energy
  records, counters, events) from the rows written during the run, and the whole database's size
  before and after (PostgreSQL: ``pg_total_relation_size`` per table; SQLite: ``dbstat`` where the
  library has it, else the file);
* Redis memory (``used_memory``) before and after.

**What is accelerated and what is not.** The simulator's clock can run faster
(``--simulated-hours`` over ``--real-s``): 24 over 1200 s takes the plants' sun, houses and meters
through a whole day in 20 minutes, so the control sees dawn, noon and dusk. On the shared 2-core
machine one simulator process could not serve 50 plants at that speed (every device timed out), so
the default is real time (docs/operations.md, "Soak"). The product's own clock is the wall clock (one cycle a second, a 5-minute log interval is
5 real minutes): cycles, log rows and database growth are measured over ``--real-s`` of real time
and extrapolated linearly to a day (``*_per_day`` figures say so). The inverters' watchdog is set
to an hour of simulated time and the boxes keep their last values without a heartbeat, so the
simulator's faster clock does not make them fall back.

Not part of ``make test``; ``bench/run.py`` runs it with its defaults. Results in
``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import django_env, write_result
from bench.fleet import CONCURRENCY, WALLBOX, Step, _cpu_s, _rss_mb, create_plants

BIN = Path(sys.executable).parent
SCENARIO = {
    "battery": None,
    "wallbox": None,
    "inverters": [
        {"name": "roof", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 9000, "watchdog_s": 3600},
        {"name": "garage", "type": "piko_iq", "max_ac_w": 5500, "pv_peak_w": 5000, "watchdog_s": 3600},
    ],
}
# What the cycle writes per plant (the 5-minute log, energy records and counters, the event log).
TABLES = ("meter_meterlog", "meter_energyrecord", "meter_energytotals", "events_event")
DAY_S = 86_400.0


class SoakStep(Step):
    # The inverters' watchdog and the box's fallback (0: it keeps the last values) are timed on
    # the simulator's clock: at a faster clock they would fall back between two cycles.
    scenario = SCENARIO
    box = {**WALLBOX, "fallback_current_a": 0}

    def __init__(self, plants: int, workers: int, tmp: Path, guard: str, speed: float, start: str) -> None:
        super().__init__(plants, workers, tmp, guard)
        self.speed, self.start_at = speed, start

    # As bench/fleet.py, with the simulator at its speed and start, and the workers logging at
    # INFO (the handovers are counted).
    start_timeout_s = 180.0
    node_prefix = "soak"
    worker_log_level = "info"

    def simulator_extra(self) -> list[str]:
        return ["--speed", str(self.speed), "--start", self.start_at]

    def beat_schedule(self) -> Path:
        return self.tmp / "beat-schedule"

    def log_counts(self) -> dict[str, Any]:
        """What the workers' logs say happened: handovers, refused and skipped cycles, errors."""
        counts: dict[str, Any] = {name: 0 for name in LOG_MARKS}
        errors: list[str] = []
        for path in self.tmp.glob("worker*.log"):
            for line in path.read_text(errors="replace").splitlines():
                for name, mark in LOG_MARKS.items():
                    if mark in line:
                        counts[name] += 1
                if (" ERROR/" in line or "Traceback" in line) and len(errors) < 5:
                    errors.append(line[:300])
        counts["first_errors"] = errors
        return counts


LOG_MARKS = {
    "plants_given_up": "closing its device connections here",  # a handover (or a worker stopping)
    "cycles_refused_lease_elsewhere": "driven by another worker",
    "ticks_skipped_previous_cycle_running": "previous cycle still running",
    "cycle_locks_taken_over": "took over the cycle lock",
    "errors": " ERROR/",
}


def table_bytes() -> dict[str, int] | None:
    """Bytes per table the cycle writes (None where the database cannot say)."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sizes: dict[str, int] = {}
            for table in TABLES:
                cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                sizes[table] = int(cursor.fetchone()[0])
            return sizes
        try:
            cursor.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        except DatabaseError:  # SQLite built without dbstat
            return None
        pages = dict(cursor.fetchall())
    # Each table with its indexes (sqlite names them after the table or the model).
    return {table: int(sum(size for name, size in pages.items() if table in name)) for table in TABLES}


def database_bytes() -> int:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
    name = Path(connection.settings_dict["NAME"])
    return sum(p.stat().st_size for p in (name, Path(f"{name}-wal")) if p.exists())


def table_rows() -> dict[str, int]:
    from django.db import connection

    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # names from TABLES
            counts[table] = int(cursor.fetchone()[0])
    return counts


def redis_memory() -> int:
    from redisconn import sync_redis

    return int(sync_redis().info("memory")["used_memory"])


def redis_pid() -> int | None:
    from redisconn import sync_redis

    return int(sync_redis().info("server")["process_id"])


class Watcher(threading.Thread):
    """Every plant's snapshot time every 0.5 s (skipped cycles), every process's RSS every ``sample_s``."""

    def __init__(self, plant_ids: list[int], pids: dict[str, int], sample_s: float) -> None:
        super().__init__(daemon=True)
        self.plant_ids, self.pids, self.sample_s = plant_ids, pids, sample_s
        self.stamps: dict[int, list[float]] = {p: [] for p in plant_ids}
        self.rss: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.meter_reads = {True: 0, False: 0}  # snapshots with the meter answering / not
        self.stop = threading.Event()

    def run(self) -> None:
        import datetime as dt

        from redis.exceptions import RedisError

        from redisconn import snapshots, sync_redis

        keys = [snapshots.state_key(p) for p in self.plant_ids]
        next_rss = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                for plant_id, raw in zip(self.plant_ids, sync_redis().mget(keys), strict=True):
                    if raw is not None:
                        state = json.loads(raw)
                        at = dt.datetime.fromisoformat(state["timestamp"]).timestamp()
                        if not self.stamps[plant_id] or self.stamps[plant_id][-1] != at:
                            self.stamps[plant_id].append(at)
                            self.meter_reads[bool(state["meter_status"]["online"])] += 1
            except (OSError, ValueError, RedisError) as exc:  # a bench keeps watching
                print(f"watch: {exc}", file=sys.stderr)
            if now >= next_rss:
                next_rss = now + self.sample_s
                for name, pid in self.pids.items():
                    with contextlib.suppress(OSError):
                        self.rss[name].append((time.time(), _rss_mb(pid)))
            self.stop.wait(0.5)


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares growth of (time s, MB) in MB per hour."""
    if len(points) < 3:
        return None
    t0 = points[0][0]
    xs = [(t - t0) / 3600.0 for t, _ in points]
    ys = [mb for _, mb in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var, 2) if var else None


def skipped(stamps: dict[int, list[float]], since: float) -> tuple[int, int, float]:
    """(skipped ticks, cycles seen, longest gap s) after ``since``."""
    missing, cycles, longest = 0, 0, 0.0
    for times in stamps.values():
        times = [t for t in times if t >= since]
        cycles += len(times)
        for a, b in itertools.pairwise(times):
            longest = max(longest, b - a)
            if b - a > 1.5:
                missing += round(b - a) - 1
    return missing, cycles, round(longest, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plants", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--real-s", type=float, default=3600.0, help="wall-clock seconds to run")
    parser.add_argument(
        "--simulated-hours",
        type=float,
        default=None,
        help="simulated hours over --real-s (sets the simulator's speed; default: real time). 24 over 3600 s is a "
        "day in an hour, but one simulator process cannot serve 50 plants that fast on a 2-core machine",
    )
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--sample-s", type=float, default=30.0, help="memory sampling period")
    parser.add_argument("--concurrency", type=int, default=16, help="threads per worker process (celery -c)")
    parser.add_argument("--guard", default="0", help="KSEM_GUARD_PERIOD_S: 0 (off), default (0.2 s), ...")
    parser.add_argument("--start", default="2026-06-21T02:00:00+00:00", help="simulated start (default: before dawn)")
    args = parser.parse_args()
    hours = args.simulated_hours if args.simulated_hours is not None else args.real_s / 3600.0
    speed = round(hours * 3600.0 / args.real_s, 3)
    CONCURRENCY[0] = args.concurrency
    with django_env("soak") as var_dir, tempfile.TemporaryDirectory(dir=var_dir) as tmp:
        from django.db import connection

        step = SoakStep(args.plants, args.workers, Path(tmp), args.guard, speed, args.start)
        try:
            plant_ids = create_plants(step.run_simulator())
            step.run_product()
            pids = {name: p.pid for name, p in step.processes.items()}
            pid = redis_pid()
            if pid is not None:
                pids["redis"] = pid
            watcher = Watcher(plant_ids, pids, args.sample_s)
            started = time.time()
            watcher.start()
            time.sleep(args.warmup_s)
            after_warmup = time.time()
            rows0, bytes0, db0, redis0 = table_rows(), table_bytes(), database_bytes(), redis_memory()
            workers = [pid for name, pid in pids.items() if name.startswith("worker")]
            cpu0 = sum(map(_cpu_s, workers))
            time.sleep(max(0.0, args.real_s - args.warmup_s))
            elapsed = time.time() - after_warmup
            cpu_s = sum(map(_cpu_s, workers)) - cpu0
            rows1, bytes1, db1, redis1 = table_rows(), table_bytes(), database_bytes(), redis_memory()
            watcher.stop.set()
            watcher.join(5)
            crashed = [name for name, p in step.processes.items() if p.poll() is not None]
        finally:
            step.stop()
        logs = step.log_counts()
        total_rows = table_rows()
        missing, cycles, longest = skipped(watcher.stamps, after_warmup)
        expected = args.plants * elapsed
        memory = {}
        for name, points in watcher.rss.items():
            steady = [(t, mb) for t, mb in points if t >= after_warmup]
            if steady:
                memory[name] = {
                    "rss_mb_after_warmup": round(steady[0][1], 1),
                    "rss_mb_end": round(steady[-1][1], 1),
                    "growth_mb_per_hour": slope_per_hour(steady),
                    "growth_mb_over_run": round(steady[-1][1] - steady[0][1], 1),
                    "rss_mb_at_start": round(points[0][1], 1),
                }
        day = DAY_S / elapsed
        per_plant_day: dict[str, Any] = {
            "rows": {t: round((rows1[t] - rows0[t]) * day / args.plants, 1) for t in TABLES},
            "rows_at_end_all_plants": total_rows,
        }
        if bytes0 is not None and bytes1 is not None:
            per_plant_day["bytes_by_table"] = {t: round((bytes1[t] - bytes0[t]) * day / args.plants) for t in TABLES}
            per_plant_day["bytes"] = round(sum(bytes1[t] - bytes0[t] for t in TABLES) * day / args.plants)
        per_plant_day["database_file_bytes"] = round((db1 - db0) * day / args.plants)
        figures = {
            "plants": args.plants,
            "workers": args.workers,
            "threads_per_worker": args.concurrency,
            "guard_period_s": args.guard,
            "real_s": round(time.time() - started),
            "measured_s": round(elapsed),
            "simulator_speed": speed,
            "simulated_hours": round((time.time() - started) * speed / 3600, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "processes_exited": crashed,
            "cycles_expected": round(expected),
            "cycles_seen": cycles,
            "skipped_cycles": missing,
            # A simulator that cannot keep up answers late: every device "offline", nothing logged.
            "meter_answered_share": round(watcher.meter_reads[True] / max(1, sum(watcher.meter_reads.values())), 4),
            "skipped_share": round(missing / expected, 4) if expected else None,
            "longest_gap_s": longest,
            "worker_cpu_cores": round(cpu_s / elapsed, 2),
            "cpu_ms_per_plant_cycle": round(1000 * cpu_s / max(1, cycles), 2),
            "worker_log": logs,
            "memory": memory,
            "database_vendor": connection.vendor,
            "database_per_plant_per_day_extrapolated": per_plant_day,
            "redis_used_memory_bytes": {"after_warmup": redis0, "end": redis1},
            "extrapolation": f"database growth measured over {round(elapsed)} s of real time, scaled to 24 h",
        }
        write_result(
            "soak",
            figures,
            {"memory_growth_mb_per_hour": "about 0 after warm-up", "skipped_cycles": 0, "processes_exited": []},
        )


if __name__ == "__main__":
    main()
