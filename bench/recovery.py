"""Recovery time: from ``kill -9`` of a process to the next published cycle, through ``make run``.

Starts the real ``make run`` (embedded Redis, SQLite, the simulator) in a private var dir on free
ports, then kills the Celery worker 10 times and the embedded Redis 10 times, one at a time,
each at a random moment of the 1 s cycle and only once supervisord counts the previous
replacement as running. The time is from the kill to the first snapshot in Redis made after
it. Writes bench/results/recovery.json. Target: p99 <= 5 s.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.common import percentile, summary, write_result
from tests.faults import SupervisedStack, wait_for
from tests.stack import free_port, free_port_block

ROOT = Path(__file__).resolve().parent.parent
KILLS = 10
TARGET_P99_S = 5.0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ksem-recovery-") as tmp:
        var_dir, log = Path(tmp) / "var", Path(tmp) / "make-run.log"
        web_port, prefix = free_port(), f"bench-recovery-{os.getpid()}"
        # Embedded defaults: the Redis that is killed here is the stack's own, never the machine's.
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
        env.update(
            KSEM_VAR_DIR=str(var_dir), KSEM_WEB_PORT=str(web_port), KSEM_METER_PORT=str(free_port()),
            KSEM_MODBUS_PORT=str(free_port()), KSEM_MODBUS_TLS_PORT=str(free_port()),
            KSEM_INVERTER_PORT_BASE=str(free_port_block(2)),
            KSEM_REDIS_PREFIX=prefix,
        )  # fmt: skip
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        stack = SupervisedStack(var_dir=var_dir, log_path=log, database_url="", web_port=web_port, prefix=prefix)
        try:
            stack.wait_healthy(timeout_s=180)
            figures: dict[str, object] = {"kills_each": KILLS}
            for name in ("worker", "redis"):
                times = [_kill_once(stack, name) for _ in range(KILLS)]
                print(f"{name}: {[round(t, 2) for t in times]}", file=sys.stderr)
                figures[f"{name}_p50_s"] = round(percentile(times, 50), 3)
                figures[f"{name}_p99_s"] = round(percentile(times, 99), 3)
                figures[name] = summary(times)
        finally:
            os.killpg(make.pid, signal.SIGINT)
            make.wait(60)
    write_result("recovery", figures, {"worker_p99_s": TARGET_P99_S, "redis_p99_s": TARGET_P99_S})


def _kill_once(stack: SupervisedStack, name: str) -> float:
    # Only once supervisord calls the last replacement RUNNING (up 2 s): a kill during start-up
    # is a crash loop, with its own backoff, not the single crash measured here.
    wait_for(lambda: stack.info(name)["statename"] == "RUNNING", 30, f"{name} running")
    wait_for(lambda: _latest_cycle(stack) > time.time() - 1.5, 30, "cycles")
    time.sleep(random.uniform(0.0, 1.0))
    _, killed_at = stack.kill(name)
    wait_for(lambda: _latest_cycle(stack) > killed_at, 60, f"a cycle after killing {name}", every_s=0.02)
    return _latest_cycle(stack) - killed_at


def _latest_cycle(stack: SupervisedStack) -> float:
    """When the newest snapshot of plant 1 was made (time.time() scale), 0 when there is none."""
    try:
        raw = stack.redis().get(f"{stack.prefix}:plant:1:state")
    except redis.RedisError:
        return 0.0
    return dt.datetime.fromisoformat(json.loads(raw)["timestamp"]).timestamp() if raw else 0.0


if __name__ == "__main__":
    main()
