"""The whole product as subprocesses, the way ``make run`` starts it, for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int) -> int:
    """A base port such that base + 1 ... base + count are all free, outside the ephemeral range
    (where free_port()'s picks would land on them)."""
    for base in random.sample(range(20_000, 30_000, 10), 200):
        ports = range(base + 1, base + count + 1)
        sockets = []
        try:
            for port in ports:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no {count} free ports in a row")


# Start-up is waited on for as long as it moves on (issue 13 part 12): on a loaded 2-core machine a
# clean start can take minutes, so no fixed deadline; a start-up that stops moving fails, naming
# what was still starting.
START_CAP_S = 600.0  # at most this long in all
START_STALL_S = 180.0  # this long without any progress: something hangs


def wait_started(
    probe: Callable[[], tuple[Any, str]],
    what: str,
    cap_s: float = START_CAP_S,
    stall_s: float = START_STALL_S,
    every_s: float = 0.3,
    explain: Callable[[], str] = lambda: "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Poll ``probe`` until its result is truthy; return that result.

    ``probe()`` returns ``(result, progress)``: ``progress`` names what is still starting, in words
    that change only when start-up moves on (process states, which checks still fail; no ages).
    Every change restarts the ``stall_s`` allowance; ``cap_s`` bounds the whole wait. The failure
    names the last progress, and ``explain()`` may add details (a log's last lines).
    """
    started = clock()
    last_progress: str | None = None
    changed_at = started
    while True:
        try:
            result, progress = probe()
        except (OSError, ValueError) as exc:
            result, progress = None, f"{type(exc).__name__}"
        if result:
            return result
        now = clock()
        if progress != last_progress:
            last_progress, changed_at = progress, now
        stalled = now - changed_at >= stall_s
        if stalled or now - started >= cap_s:
            why = f"no progress for {now - changed_at:.0f} s" if stalled else f"the cap of {cap_s:.0f} s"
            details = explain()
            raise AssertionError(
                f"{what}: not there after {now - started:.0f} s ({why}); still starting: {last_progress}"
                + (f"\n{details}" if details else "")
            )
        sleep(every_s)


def health_progress(status: int, report: dict[str, Any]) -> str:
    """What a /api/health answer says is still missing, in words that change only with progress."""
    if status == 200:
        return "healthy"
    missing = [name for name in ("database", "redis", "beat") if not report.get(name, {}).get("ok")]
    for plant in report.get("plants", []):
        cycle, meter = plant.get("cycle", {}), plant.get("meter", {})
        if not cycle.get("ok"):
            missing.append(f"plant {plant.get('id')} cycle" + (" (none yet)" if cycle.get("age_s") is None else ""))
        if not meter.get("ok"):
            missing.append(f"plant {plant.get('id')} meter" + ("" if meter.get("online") else " (offline)"))
    missing += report.get("processes", {}).get("problems", [])
    return f"health {status}: " + (", ".join(missing) or "not ok")


def database_url() -> str:
    """The URL of the database this process uses right now (the test database under pytest)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def celery_worker_command(node: str, concurrency: int = 4, log_level: str = "info") -> list[str]:
    """A worker as the fleet runs it: the realtime and default queues (and its own, plant.fleet),
    the threads pool, a node name of its own, no gossip, mingle or heartbeat between workers."""
    return [
        str(BIN / "celery"), "-A", "ksem_site", "worker", "-Q", "realtime,default", "-P", "threads",
        "-c", str(concurrency), "-n", node, "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-l", log_level,
    ]  # fmt: skip


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ksem_site.test_settings",
        KSEM_VAR_DIR=str(settings.VAR_DIR),
        KSEM_REDIS_PREFIX=settings.REDIS_KEY_PREFIX,
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=database_url(),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Stack:
    meter_port: int
    web_port: int
    logs: Path
    plant_id: int = 0
    password: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    scenario: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def command(self, name: str) -> list[str]:
        return {
            "simulator": [str(BIN / "python"), "-m", "simulator", "--port", str(self.meter_port), "--seed", "7",
                          *(["--scenario", str(self.scenario)] if self.scenario else [])],
            "web": [
                str(BIN / "uvicorn"), "ksem_site.asgi:application", "--host", "127.0.0.1",
                "--port", str(self.web_port), "--ws", "websockets-sansio", "--lifespan", "off", "--no-access-log",
                "--no-proxy-headers",
            ],
            "worker": [
                str(BIN / "celery"), "-A", "ksem_site", "worker", "-Q", "realtime,default", "-P", "threads",
                "-c", "4", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning",
            ],
            "beat": [str(BIN / "celery"), "-A", "ksem_site", "beat", "-l", "warning",
                     "-s", str(settings.VAR_DIR / f"beat-{self.web_port}")],
        }[name]  # fmt: skip

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            self.command(name), cwd=ROOT, env=child_env(**self.extra_env), stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def get_json(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def wait_for(self, predicate: Any, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                last = predicate()
                if last:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last!r}; logs in {self.logs}")

    def health(self) -> tuple[int, dict[str, Any]]:
        return self.get_json("/api/health")

    def start_progress(self) -> str:
        """Which of the started processes died, then what health still misses (web not answering)."""
        dead = [f"{name} exited ({p.returncode})" for name, p in self.processes.items() if p.poll() is not None]
        try:
            status, report = self.health()
        except (OSError, ValueError):
            return ", ".join([*dead, "web not answering"])
        return ", ".join([*dead, health_progress(status, report)])

    def wait_healthy(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Health 200. Without ``timeout_s``: for as long as start-up moves on (``wait_started``)."""
        if timeout_s is not None:
            return self.wait_for(
                lambda: (lambda r: r[1] if r[0] == 200 else None)(self.health()), timeout_s, "health 200"
            )

        def probe() -> tuple[dict[str, Any] | None, str]:
            progress = self.start_progress()
            if " exited (" in progress:  # a process that died does not come back by waiting
                raise AssertionError(f"the stack did not start: {progress}; logs in {self.logs}")
            return (self.health()[1] if progress == "healthy" else None), progress

        return wait_started(probe, "the stack (health 200)", explain=lambda: f"logs in {self.logs}")
