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


def database_url() -> str:
    """The URL of the database this process uses right now (the test database under pytest)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db["USER"] or ""
    auth = f"{user}:{db['PASSWORD']}@" if db["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


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

    def wait_healthy(self, timeout_s: float = 60.0) -> dict[str, Any]:
        return self.wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(self.health()), timeout_s, "health 200")
