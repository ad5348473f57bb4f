"""A fleet under faults (issue 18 part 5): private servers the test may hurt, and what it watches.

``PrivateRedis`` is a redis-server the test starts itself on a unix socket in its own var dir (the
product's embedded Redis, as ``make run`` has it), so killing it touches nothing else.
``PrivatePostgres`` is a PostgreSQL cluster of its own (``initdb`` + ``pg_ctl`` from the machine's
PostgreSQL binaries, in a temporary directory, on a free port, owned by ``nobody`` when the test
runs as root since initdb refuses root), so stopping it never touches the machine's server.
``FleetSampler`` reads every plant's snapshot from Redis, and the simulator's truth (the limit in
force on every inverter) from its stats file, for as long as the fleet runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from ksem_site.embedded_redis import server_args
from tests.faults import COUNTER_FIELDS, wait_for


class PrivateRedis:
    def __init__(self, var_dir: Path) -> None:
        self.socket = var_dir / "redis.sock"  # where the product looks for its embedded Redis
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(server_args(self.socket), stdout=subprocess.DEVNULL)
        wait_for(lambda: self.socket.exists() and self.client().ping(), 10, "the private redis-server")

    def kill(self) -> None:
        """``kill -9``: everything in it is gone (it keeps nothing on disk, as the embedded one)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1.0, socket_connect_timeout=1.0)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries of this machine (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A cluster of the test's own; ``url`` for DATABASE_URL. Stop and start it at will."""

    def __init__(self, bin_dir: Path, port: int) -> None:
        self.bin, self.port = bin_dir, port
        # Not under pytest's tmp dir: that is root's alone, and the cluster runs as nobody.
        self.dir = Path(tempfile.mkdtemp(prefix="ksem-fleet-pg-"))
        self.data = self.dir / "data"
        self.as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "nobody")

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "ksem", "--no-sync", "-E", "UTF8"
        )
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "ksem", "ksem")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError, OSError, subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://ksem@127.0.0.1:{self.port}/ksem"


@dataclass
class PlantSeen:
    snapshots: list[tuple[float, dict[str, float], bool]] = field(default_factory=list)  # (time, totals, meter online)
    truth: list[tuple[float, float, bool]] = field(default_factory=list)  # (read at, limit % in force, written limit)


class FleetSampler(threading.Thread):
    """Every 0.1 s every plant's snapshot (Redis), every 0.25 s the simulator's stats file."""

    def __init__(self, redis_server: PrivateRedis, prefix: str, plant_ids: list[int], stats_file: Path) -> None:
        super().__init__(name="fleet sampler", daemon=True)
        self.redis, self.prefix, self.plant_ids, self.stats_file = redis_server, prefix, plant_ids, stats_file
        self.seen = {plant_id: PlantSeen() for plant_id in plant_ids}
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        client: redis.Redis | None = None
        keys = [f"{self.prefix}:plant:{plant_id}:state" for plant_id in self.plant_ids]
        next_truth = 0.0
        while not self._stop_event.wait(0.1):
            try:
                client = client or self.redis.client()
                raws = client.mget(keys)
            except redis.RedisError:
                client, raws = None, [None] * len(keys)
            with self._lock:
                for plant_id, raw in zip(self.plant_ids, raws, strict=True):
                    if raw:
                        state = json.loads(raw)
                        at = dt.datetime.fromisoformat(state["timestamp"]).timestamp()
                        seen = self.seen[plant_id].snapshots
                        if not seen or seen[-1][0] != at:
                            totals = {k: state["totals"][k] for k in COUNTER_FIELDS}
                            seen.append((at, totals, bool(state["meter_status"]["online"])))
            if time.monotonic() >= next_truth:
                next_truth = time.monotonic() + 0.25
                self._read_truth()

    def _read_truth(self) -> None:
        try:
            stats = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return
        now = time.time()
        with self._lock:
            for plant_id, truth in zip(self.plant_ids, stats.get("truth", []), strict=False):
                roof = truth["inverters"]["roof"]
                self.seen[plant_id].truth.append((now, float(roof["limit_pct"]), bool(roof["limit_enabled"])))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)

    def cycles(self, plant_id: int, since: float, until: float = float("inf")) -> list[float]:
        """Snapshot times (by the product's clock) within (since, until]."""
        with self._lock:
            return [at for at, _, _ in self.seen[plant_id].snapshots if since < at <= until]

    def first_cycle_after(self, plant_id: int, moment: float) -> float | None:
        return next(iter(self.cycles(plant_id, moment)), None)

    def meter_online(self, plant_id: int) -> bool | None:
        with self._lock:
            snapshots = self.seen[plant_id].snapshots
            return snapshots[-1][2] if snapshots else None

    def truth(self, plant_id: int, since: float = 0.0) -> list[tuple[float, float, bool]]:
        with self._lock:
            return [t for t in self.seen[plant_id].truth if t[0] >= since]

    def limited(self, plant_id: int) -> bool:
        """The product's limit is in force on the plant's inverter now (well below its own 50 %)."""
        latest = self.truth(plant_id)[-1:]
        return bool(latest) and latest[0][2] and latest[0][1] < 40.0

    def backwards(self) -> dict[int, list[tuple[str, float, float]]]:
        """Per plant, every total that went down between two snapshots (field, before, after)."""
        found: dict[int, list[tuple[str, float, float]]] = {}
        with self._lock:
            for plant_id, seen in self.seen.items():
                for (_, before, _), (_, after, _) in zip(seen.snapshots, seen.snapshots[1:], strict=False):
                    found[plant_id] = found.get(plant_id, []) + [
                        (name, before[name], after[name]) for name in COUNTER_FIELDS if after[name] < before[name]
                    ]
        return {plant_id: wrong for plant_id, wrong in found.items() if wrong}


def rows(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the fleet's database (PostgreSQL or SQLite)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            return list(db.execute(sql.replace("%s", "?"), params).fetchall())
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as db:
        return list(db.execute(sql, params).fetchall())
