"""Recovery time: from ``kill -9`` of a process until it does its job again, through ``make run``.

Starts the real ``make run`` (embedded Redis, SQLite, the simulator) in a private var dir on free
ports and kills, one at a time, the Celery worker, beat and web (and the embedded Redis), each at
a random moment of the 1 s cycle and only once supervisord counts the previous replacement as
running. Twice: on the machine as it is ("idle"), and with CPU-bound neighbours (``--neighbours``
busy-loop processes at normal priority, default 2, one per core of the reference machine: "busy").

What counts as back:

- worker and Redis: the first snapshot in Redis made after the kill (the dead worker cannot
  make one; the one it was building dies with it);
- beat: the first snapshot made after supervisord started the replacement (a tick the old beat
  sent just before its death is still served by the worker; that cycle is not a recovery);
- web: the first ``200`` of the login page.

Besides the wall time, ``*_boot_cpu_s`` is the CPU time (user + system) the replacement process
spent until that moment: the part that a loaded machine stretches, and a figure that does not
depend on what else the machine does. The load average before each phase is recorded: on a
shared machine the absolute times are only comparable within one run.

    .venv/bin/python -m bench.recovery                  # 10 kills each, idle and busy
    .venv/bin/python -m bench.recovery --kills 20 --only worker --neighbours 1

Writes bench/results/recovery.json (``worker_p99_s``, ``worker_busy_p99_s``, ``beat_p99_s``, ...).
Targets: worker p99 <= 3 s idle and <= 5 s busy; the others p99 <= 5 s idle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis

from bench.common import percentile, summary, write_result
from tests.faults import SupervisedStack, wait_for
from tests.stack import free_port, free_port_block

ROOT = Path(__file__).resolve().parent.parent
KILLS = 10
PROCESSES = ("worker", "beat", "web", "redis")
# Redis is measured on the idle machine only: its recovery is the clients' reconnect, not a start-up.
BUSY_PROCESSES = ("worker", "beat", "web")
TARGETS = {
    "worker_p99_s": 3.0,
    "worker_busy_p99_s": 5.0,
    "beat_p99_s": 5.0,
    "web_p99_s": 5.0,
    "redis_p99_s": 5.0,
}
BUSY_LOOP = "while True: pass"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=KILLS, help="kills per process and phase (default 10)")
    parser.add_argument("--neighbours", type=int, default=2, help="busy-loop processes in the busy phase (0: none)")
    parser.add_argument("--only", default=",".join(PROCESSES), help="comma-separated subset of " + ",".join(PROCESSES))
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(PROCESSES))
    if unknown or args.kills < 1 or args.neighbours < 0:
        parser.error(f"--only takes {', '.join(PROCESSES)}; --kills >= 1; --neighbours >= 0 (got {unknown or args})")

    figures: dict[str, object] = {"kills_each": args.kills, "neighbours": args.neighbours}
    with supervised_stack() as stack:
        phases = [("", only)]
        if args.neighbours:
            phases.append(("busy", [name for name in only if name in BUSY_PROCESSES]))
        for phase, names in phases:
            with neighbours(args.neighbours if phase == "busy" else 0):
                time.sleep(2.0 if phase else 0.0)  # let the scheduler see the neighbours
                figures[f"load_before_{phase or 'idle'}"] = [round(x, 2) for x in os.getloadavg()]
                for name in names:
                    times, cpu = [], []
                    for _ in range(args.kills):
                        took, cpu_s = kill_once(stack, name)
                        times.append(took)
                        cpu.append(cpu_s)
                    key = f"{name}_{phase}_" if phase else f"{name}_"
                    print(
                        f"{key[:-1]}: {[round(t, 2) for t in times]} cpu {[round(c, 2) for c in cpu]}", file=sys.stderr
                    )
                    figures[f"{key}p50_s"] = round(percentile(times, 50), 3)
                    figures[f"{key}p99_s"] = round(percentile(times, 99), 3)
                    figures[key[:-1]] = summary(times)
                    measured = [c for c in cpu if c == c]  # NaN: the replacement was gone already
                    if name != "redis" and measured:
                        figures[f"{key}boot_cpu_s"] = summary(measured)
    targets = {k: v for k, v in TARGETS.items() if k in figures}
    write_result("recovery", figures, targets)


@contextmanager
def supervised_stack() -> Iterator[SupervisedStack]:
    with tempfile.TemporaryDirectory(prefix="ksem-recovery-") as tmp:
        var_dir, log = Path(tmp) / "var", Path(tmp) / "make-run.log"
        web_port, prefix = free_port(), f"bench-recovery-{os.getpid()}"
        # Embedded defaults: the Redis that is killed here is the stack's own, never the machine's.
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update(
            KSEM_VAR_DIR=str(var_dir), KSEM_WEB_PORT=str(web_port), KSEM_METER_PORT=str(free_port()),
            KSEM_MODBUS_PORT=str(free_port()), KSEM_MODBUS_TLS_PORT=str(free_port()),
            KSEM_HTTPS_PORT=str(free_port()), KSEM_INVERTER_PORT_BASE=str(free_port_block(2)),
            KSEM_REDIS_PREFIX=prefix,
        )  # fmt: skip
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        stack = SupervisedStack(var_dir=var_dir, log_path=log, database_url="", web_port=web_port, prefix=prefix)
        try:
            stack.wait_healthy(timeout_s=300)
            yield stack
        finally:
            os.killpg(make.pid, signal.SIGINT)
            make.wait(60)


@contextmanager
def neighbours(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` CPU-bound processes at normal priority, stopped on the way out."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=True) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait(10)


def kill_once(stack: SupervisedStack, name: str) -> tuple[float, float]:
    """(seconds from the kill until the process does its job again, CPU seconds of the replacement)."""
    # Only once supervisord calls the last replacement RUNNING (up 2 s): a kill during start-up
    # is a crash loop, with its own backoff, not the single crash measured here.
    wait_for(lambda: stack.info(name)["statename"] == "RUNNING", 60, f"{name} running")
    wait_for(lambda: latest_cycle(stack) > time.time() - 1.5, 60, "cycles")
    if name == "web":
        wait_for(lambda: page_answers(stack), 60, "the login page")
    time.sleep(random.uniform(0.0, 1.0))
    old_pid, killed_at = stack.kill(name)
    back: Callable[[], float]
    if name == "web":
        back = lambda: page_answers(stack) and time.time()  # noqa: E731
    elif name == "beat":
        # A tick the old beat sent just before its death may still give a cycle after the kill.
        seen = wait_for(
            lambda: stack.pid(name) not in (0, old_pid) and time.time(), 60, "beat respawned", every_s=0.005
        )
        back = lambda: (lambda at: at if at > seen else 0.0)(latest_cycle(stack))  # noqa: E731
    else:
        back = lambda: (lambda at: at if at > killed_at else 0.0)(latest_cycle(stack))  # noqa: E731
    recovered_at = float(wait_for(back, 120, f"{name} back after the kill", every_s=0.01))
    return recovered_at - killed_at, replacement_cpu_s(stack, name, old_pid)


def replacement_cpu_s(stack: SupervisedStack, name: str, old_pid: int) -> float:
    """CPU seconds (user + system, with children) the process that replaced ``old_pid`` has used so far."""
    try:
        pid = stack.pid(name)
        if pid in (0, old_pid):
            return float("nan")
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return float("nan")
    return float(times.user + times.system + times.children_user + times.children_system)


def latest_cycle(stack: SupervisedStack) -> float:
    """When the newest snapshot of plant 1 was made (time.time() scale), 0 when there is none."""
    try:
        raw = stack.redis().get(f"{stack.prefix}:plant:1:state")
    except redis.RedisError:
        return 0.0
    return dt.datetime.fromisoformat(json.loads(raw)["timestamp"]).timestamp() if raw else 0.0


def page_answers(stack: SupervisedStack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.base_url}/login/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    main()
