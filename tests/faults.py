"""The product under supervisord, as ``make run`` starts it, with handles to hurt it.

``SupervisedStack`` starts ``python -m ksem_site.supervisor`` in a private var dir on free ports:
its own embedded Redis (so killing Redis never touches the one the rest of the suite uses), web,
worker and beat, on a database of its own (SQLite in the var dir, or a fresh database on the
suite's PostgreSQL server), migrated and bootstrapped as ``make run`` does. The simulated meter runs in the test process
(``KSEM_SIMULATOR=off`` for the stack), so a test can take it offline, slow it down, make it
flap or jump its clock. ``Sampler`` watches every snapshot the stack publishes, so a test can ask
when cycles resumed and whether any total ever went backwards.

Safety fallbacks (part 5 of issue 10) are entries of ``FALLBACK_CASES``: one per device kind
that must fall back to a safe limit by itself when the manager stops.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from tests.stack import ROOT, free_port, health_progress, wait_started

# Each fault must be over this long after the process is back (issue 10).
RESUME_WITHIN_S = 5.0
COUNTER_FIELDS = (
    "active_import_wh",
    "active_export_wh",
    "reactive_import_varh",
    "reactive_export_varh",
    "apparent_import_vah",
    "apparent_export_vah",
)


def long_form() -> bool:
    """``make faults``: the long variants, and the machine's own PostgreSQL/Redis may be restarted."""
    return os.environ.get("KSEM_FAULTS") == "long"


@dataclass
class Sample:
    at: float  # time.time() when read
    sequence: int
    timestamp: dt.datetime
    totals: dict[str, float]
    meter_online: bool


def private_database(var_dir: Path, name: str) -> tuple[str, Callable[[], None]]:
    """(DATABASE_URL, drop) of an empty database for one stack, on the server the suite uses."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{var_dir / 'db.sqlite3'}", lambda: None
    import psycopg

    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    server = f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{server}/{name}", drop


@dataclass
class SupervisedStack:
    var_dir: Path
    log_path: Path
    database_url: str
    web_port: int = field(default_factory=free_port)
    modbus_port: int = field(default_factory=free_port)
    modbus_tls_port: int = field(default_factory=free_port)
    eebus_port: int = field(default_factory=free_port)
    redis_url: str | None = None  # None: the stack's own embedded Redis
    rs485_b: str = ""  # the line behind RS485 B (``socket://host:port`` of a simulated wallbox)
    prefix: str = field(default_factory=lambda: f"faults{os.getpid()}")
    process: subprocess.Popen[bytes] | None = None

    # --- the stack --------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE", "KSEM_FAULTS"}}
        env.update(
            DJANGO_SETTINGS_MODULE="ksem_site.settings",
            DATABASE_URL=self.database_url,
            KSEM_VAR_DIR=str(self.var_dir),
            KSEM_WEB_PORT=str(self.web_port),
            KSEM_MODBUS_PORT=str(self.modbus_port),
            KSEM_MODBUS_TLS_PORT=str(self.modbus_tls_port),
            KSEM_EEBUS_PORT=str(self.eebus_port),
            KSEM_SIMULATOR="off",
            KSEM_REDIS_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.rs485_b:
            env["KSEM_RS485_B"] = self.rs485_b
        return env

    def manage(self, *args: str) -> str:
        """``manage.py ARGS`` in the stack's environment; returns its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def bootstrap(self, meter_port: int, inverters_from: Path | None = None, inverter_port_base: int = 0) -> str:
        """migrate + bootstrap_simulated as ``make run`` does (the plant's meter at ``meter_port``, the
        scenario's inverters on ``inverter_port_base`` + N); the password."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput")
        extra = (
            ["--inverters-from", str(inverters_from), "--inverter-port-base", str(inverter_port_base)]
            if inverters_from
            else []
        )
        output = self.manage("bootstrap_simulated", "--meter", "--meter-port", str(meter_port), *extra)
        marker = "Initial device password (shown only now):"
        return next(line.split(marker)[1].strip() for line in output.splitlines() if marker in line)

    def session_cookie(self) -> str:
        """A logged-in session of the device account, as a Cookie header."""
        code = (
            "from django.contrib.auth import get_user_model; from django.test import Client; "
            "from portal.services import DEVICE_USERNAME; c = Client(); "
            "c.force_login(get_user_model().objects.get(username=DEVICE_USERNAME)); "
            "print(c.cookies['sessionid'].value)"
        )
        return f"sessionid={self.manage('shell', '-c', code).strip().splitlines()[-1]}"

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ksem_site.supervisor"], cwd=ROOT, env=self.env(),
            stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def stop(self) -> list[psutil.Process]:
        """SIGTERM to supervisord, as systemd does; returns whatever is still alive after."""
        if self.process is None or self.process.poll() is not None:
            return []
        family = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        _, alive = psutil.wait_procs(family, timeout=10)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        return alive

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- supervisord --------------------------------------------------------------------------
    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.var_dir / 'supervisor.sock'}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.rpc().supervisor.getProcessInfo(name)
        return info

    def pid(self, name: str) -> int:
        return int(self.info(name)["pid"])

    def kill(self, name: str) -> tuple[int, float]:
        """``kill -9`` the process; returns its pid and the moment (time.time())."""
        pid = self.pid(name)
        assert pid, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        return pid, time.time()

    def wait_respawned(self, name: str, old_pid: int, timeout_s: float = 15.0) -> float:
        """When supervisord had started the process again (time.time(), polled)."""
        return wait_for(lambda: (self.pid(name) not in (0, old_pid)) and time.time(), timeout_s, f"{name} back")

    # --- what the stack shows -------------------------------------------------------------------
    def redis(self) -> redis.Redis:
        url = self.redis_url or f"unix://{self.var_dir / 'redis.sock'}"
        return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    def snapshot(self, plant_id: int) -> dict[str, Any] | None:
        raw = self.redis().get(f"{self.prefix}:plant:{plant_id}:state")
        return json.loads(raw) if raw else None

    def get_json(self, path: str, cookie: str = "") -> tuple[int, Any]:
        request = urllib.request.Request(self.base_url + path, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def get_text(self, path: str, cookie: str = "") -> str:
        request = urllib.request.Request(self.base_url + path, headers={"Cookie": cookie} if cookie else {})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode())

    def health(self) -> tuple[int, dict[str, Any]]:
        return self.get_json("/api/health")

    def start_progress(self) -> str:
        """How far start-up is: the processes supervisord has not got running yet, then what health
        still misses. Before supervisord answers: the last line of the log (migrate, bootstrap)."""
        try:
            infos = self.rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error):
            lines = self.log().strip().splitlines() if self.log_path.exists() else []
            return f"supervisord not answering yet; log: {lines[-1][:200] if lines else '(empty)'}"
        waiting = [f"{i['name']} {i['statename']}" for i in infos if i["statename"] != "RUNNING"]
        try:
            status, report = self.health()
            health = health_progress(status, report)
        except (OSError, ValueError):
            health = "web not answering"
        return ", ".join([*waiting, health]) if waiting or health != "healthy" else "healthy"

    def explain_start(self) -> str:
        """For a failed start: since when each unfinished process has been in its state, and the log's end."""
        lines: list[str] = []
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            now = time.time()
            for info in self.rpc().supervisor.getAllProcessInfo():
                if info["statename"] != "RUNNING":
                    since = now - info["start"] if info["start"] else 0
                    lines.append(f"{info['name']}: {info['statename']} for {since:.0f} s ({info['description']})")
        tail = self.log().splitlines()[-15:] if self.log_path.exists() else []
        return "\n".join([*lines, f"last lines of {self.log_path}:", *tail])

    def wait_healthy(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Health 200. Without ``timeout_s``: for as long as start-up moves on (``wait_started``)."""
        if timeout_s is None:

            def probe() -> tuple[dict[str, Any] | None, str]:
                progress = self.start_progress()
                if " FATAL" in progress:  # supervisord gave up on it: waiting longer will not help
                    raise AssertionError(f"the stack did not start: {progress}\n{self.explain_start()}")
                return (self.health()[1] if progress == "healthy" else None), progress

            started: dict[str, Any] = wait_started(
                probe, "the supervised stack (health 200)", explain=self.explain_start
            )
            return started

        def healthy() -> dict[str, Any] | None:
            status, report = self.health()
            return report if status == 200 else None

        report: dict[str, Any] = wait_for(healthy, timeout_s, f"health 200; log: {self.log_path}")
        return report


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError, redis.RedisError, xmlrpc.client.Error) as exc:
            last = exc
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last!r}")


class Sampler(threading.Thread):
    """Reads the plant's snapshot from Redis every 100 ms for as long as the stack runs."""

    def __init__(self, stack: SupervisedStack, plant_id: int) -> None:
        super().__init__(name="snapshot sampler", daemon=True)
        self.stack, self.plant_id = stack, plant_id
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        client: redis.Redis | None = None
        last_key: tuple[int, str] | None = None
        while not self._stop_event.wait(0.1):
            try:
                client = client or self.stack.redis()
                raw = client.get(f"{self.stack.prefix}:plant:{self.plant_id}:state")
            except redis.RedisError:
                client = None
                continue
            if not raw:
                continue
            state = json.loads(raw)
            key = (state["sequence"], state["timestamp"])
            if key == last_key:
                continue
            last_key = key
            sample = Sample(
                at=time.time(),
                sequence=state["sequence"],
                timestamp=dt.datetime.fromisoformat(state["timestamp"]),
                totals={k: state["totals"][k] for k in COUNTER_FIELDS},
                meter_online=bool(state["meter_status"]["online"]),
            )
            with self._lock:
                self.samples.append(sample)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)

    def since(self, moment: float) -> list[Sample]:
        """Snapshots made (by the product's clock) after ``moment`` (time.time())."""
        with self._lock:
            return [s for s in self.samples if s.timestamp.timestamp() > moment]

    def wait_cycle_after(self, moment: float, timeout_s: float, what: str) -> Sample:
        """The first snapshot made after ``moment``; fails after ``timeout_s``."""
        sample: Sample = wait_for(lambda: next(iter(self.since(moment)), None), timeout_s, what)
        return sample

    def backwards(self) -> list[tuple[str, float, float]]:
        """Every total that ever went down between two snapshots (field, before, after)."""
        with self._lock:
            samples = list(self.samples)
        found = []
        for before, after in itertools.pairwise(samples):
            found += [
                (name, before.totals[name], after.totals[name])
                for name in COUNTER_FIELDS
                if after.totals[name] < before.totals[name]
            ]
        return found


@contextlib.contextmanager
def flapping(set_fault: Callable[[str], None], period_s: float, duration_s: float) -> Iterator[list[float]]:
    """Meter offline and back every ``period_s`` for ``duration_s``; yields the offline moments."""
    offline_at: list[float] = []
    stop = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + duration_s
        offline = False
        while not stop.is_set() and time.monotonic() < deadline:
            offline = not offline
            set_fault("offline" if offline else "none")
            if offline:
                offline_at.append(time.time())
            stop.wait(period_s)
        set_fault("none")

    thread = threading.Thread(target=run, name="flapping meter", daemon=True)
    thread.start()
    try:
        yield offline_at
        thread.join(duration_s + 5)
    finally:
        stop.set()
        thread.join(5)


# --- safety fallbacks (part 5) -----------------------------------------------------------------
@dataclass(frozen=True)
class FallbackCase:
    """A device that must reach a safe limit by itself when the manager stops writing to it.

    ``start(faults)`` brings the device under the product's control (a limit written by the
    running stack) and returns a handle; ``limit_is_safe(faults, handle)`` tells whether the device
    is at its own fallback (the wallbox's fallback current, the inverter's own limit after its
    watchdog) rather than at what the stopped manager last wrote. The fault suite stops the
    worker for longer than ``fallback_after_s`` and checks ``limit_is_safe`` with the manager gone.
    """

    name: str
    fallback_after_s: float
    start: Callable[[Any], Any]
    limit_is_safe: Callable[[Any, Any], bool]


# The simulated plant of the fault stack has one inverter. Its watchdog is short, and it is
# configured (as installers do for a lost energy manager) to fall back to 50 % by itself.
FAULT_INVERTER_WATCHDOG_S = 5.0
FAULT_INVERTER: dict[str, Any] = {
    "name": "Roof",
    "type": "plenticore",
    "max_ac_w": 20_000,
    "pv_peak_w": 8_000,
    "watchdog_s": FAULT_INVERTER_WATCHDOG_S,
    "fallback_limit_pct": 50,
}


def _limit_the_inverter(faults: Any) -> str:
    """Feed-in limit 0 W: the product caps the inverter far below its own 50 % fallback."""
    faults.stack.manage(
        "shell",
        "-c",
        "from inverters.models import PowerSettings; PowerSettings.objects.update_or_create(plant_id=1, "
        "defaults={'feed_in_limit_enabled': True, 'limit_mode': 'w', 'limit_value': 0})",
    )
    name = str(FAULT_INVERTER["name"])

    def limited() -> bool:
        truth = faults.sim.model.inverter_outputs()[name]
        return bool(truth.limit_enabled and truth.limit_pct < 40)

    try:
        wait_for(limited, 30.0, "the running stack to limit the inverter")
    except AssertionError as exc:  # say what the product saw and decided
        snap = faults.stack.snapshot(1) or {}
        seen = {key: snap.get(key) for key in ("grid", "inverters", "controllers", "power_limitation")}
        raise AssertionError(f"{exc}; the product's snapshot: {json.dumps(seen, default=str)[:3000]}") from None
    return name


def _inverter_at_its_own_fallback(faults: Any, name: str) -> bool:
    truth = faults.sim.model.inverter_outputs()[name]
    return not truth.limit_enabled and truth.limit_pct == FAULT_INVERTER["fallback_limit_pct"]


# An ENECTOR on RS485 B, as in the manual's wallbox examples (RTU over TCP to the simulator, as behind a serial server). It falls
# back to 6 A when no heartbeat came for 10 s; the product keeps it locked, so a car that
# charges means the box is on its own.
FAULT_WALLBOX_FALLBACK_A = 6
FAULT_WALLBOX: dict[str, Any] = {
    "name": "Carport",
    "type": "enector_11",
    "address": 100,
    "fallback_current_a": FAULT_WALLBOX_FALLBACK_A,
}


def _lock_the_wallbox(faults: Any) -> str:
    """The wallbox option on, the box added in Lock mode, a car plugged in: the product holds it."""
    from simulator.scenario import CarScenario

    name = str(FAULT_WALLBOX["name"])
    faults.stack.manage(
        "shell",
        "-c",
        "from plant.models import Plant; from plant.options import WALLBOX, set_option; "
        "from wallbox.models import Wallbox; plant = Plant.objects.get(pk=1); set_option(plant, WALLBOX); "
        f"Wallbox.objects.update_or_create(plant=plant, name={name!r}, "
        "defaults={'type': 'enector_11', 'interface': 'B', 'address': 100, 'mode': 'lock'})",
    )
    faults.sim.model.plug_car(name, CarScenario(phases=3, capacity_wh=500_000.0))

    def held() -> bool:
        truth = faults.sim.model.wallbox_truths()[name]
        return bool(truth.vehicle_connected and not truth.fallback_active and not truth.released)

    wait_for(held, 30.0, "the running stack to take the wallbox over and lock it")
    return name


def _wallbox_at_its_own_fallback(faults: Any, name: str) -> bool:
    truth = faults.sim.model.wallbox_truths()[name]
    return bool(truth.fallback_active and truth.offered_a == FAULT_WALLBOX_FALLBACK_A)


FALLBACK_CASES: tuple[FallbackCase, ...] = (
    FallbackCase(
        "inverter",
        fallback_after_s=FAULT_INVERTER_WATCHDOG_S + 1.0,
        start=_limit_the_inverter,
        limit_is_safe=_inverter_at_its_own_fallback,
    ),
    FallbackCase(
        "wallbox",
        # The box's own heartbeat timeout (10 s) after the manager's last write.
        fallback_after_s=10.0,
        start=_lock_the_wallbox,
        limit_is_safe=_wallbox_at_its_own_fallback,
    ),
)
