"""README's first command: `make run` on the embedded defaults, then Ctrl-C.

Runs the real Makefile target (migrate, bootstrap, supervisord with every process) in a private
var dir on free ports, so it never meets a `make run` someone already has open. A process that
dies is restarted: the worker is killed with SIGKILL and the stack is healthy again by itself.

Start-up is waited on for as long as it moves on (the log during migrate and bootstrap, then
supervisord's process states, then what /api/health still misses), not for a fixed time: a
loaded 2-core machine may need minutes. A start that stops moving fails naming what was still
starting (``tests.stack.wait_started``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.faults import SupervisedStack, wait_for
from tests.stack import ROOT, free_port, free_port_block

pytestmark = pytest.mark.stack


def run_make(var_dir: Path, web_port: int, meter_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        KSEM_VAR_DIR=str(var_dir),
        KSEM_WEB_PORT=str(web_port),
        KSEM_INVERTER_PORT_BASE=str(free_port_block(2)),
        KSEM_MODBUS_PORT=str(free_port()),
        KSEM_MODBUS_TLS_PORT=str(free_port()),
        KSEM_METER_PORT=str(meter_port),
        KSEM_EEBUS_PORT=str(free_port()),
        KSEM_CONTROLBOX_PORT=str(free_port_block(2) + 1),
        KSEM_REDIS_PREFIX=f"makerun{os.getpid()}",
    )
    # A session of its own: Ctrl-C in a terminal reaches the whole process group.
    return subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def supervised(var_dir: Path, web_port: int, log: Path) -> SupervisedStack:
    return SupervisedStack(var_dir=var_dir, log_path=log, database_url="", web_port=web_port)


def ctrl_c(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """Send Ctrl-C to the process group; return whatever is still alive after 30 s."""
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    os.killpg(process.pid, signal.SIGINT)
    process.wait(30)
    _, alive = psutil.wait_procs(family, timeout=15)
    return alive


def test_make_run_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path):
    web_port, meter_port = free_port(), free_port()
    first_log = tmp_path / "first.log"
    process = run_make(tmp_path / "var", web_port, meter_port, first_log)
    stack = supervised(tmp_path / "var", web_port, first_log)
    try:
        report = stack.wait_healthy()
        assert report["status"] == "ok"
        (plant,) = report["plants"]
        assert plant["meter"]["online"], "the plant is created with its meter at the simulator"
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login/", timeout=5) as response:
            assert response.status == 200

        # The OOM killer takes the worker: supervisord starts it again, health recovers by itself.
        old_pid = stack.pid("worker")
        os.kill(old_pid, signal.SIGKILL)
        back_at = stack.wait_respawned("worker", old_pid)

        def cycle_by_new_worker() -> dict | None:
            report = stack.wait_healthy(timeout_s=10)
            return report if report["plants"][0]["cycle"]["age_s"] < time.time() - back_at else None

        assert wait_for(cycle_by_new_worker, 30, "a cycle by the new worker")["status"] == "ok"
    finally:
        alive = ctrl_c(process)
    assert not alive, f"left running after Ctrl-C: {[p.cmdline() for p in alive]}"
    output = first_log.read_text()
    assert output.count("Initial device password (shown only now):") == 1
    assert f"http://127.0.0.1:{web_port}" in output
    assert output.count("exited: worker (terminated by SIGKILL; not expected)") == 1, "which process died, and how"

    second_log = tmp_path / "second.log"
    process = run_make(tmp_path / "var", web_port, meter_port, second_log)
    try:
        supervised(tmp_path / "var", web_port, second_log).wait_healthy()
    finally:
        assert not ctrl_c(process)
    assert "Initial device password" not in second_log.read_text(), "printed only on the first start"
