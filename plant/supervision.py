"""What the process supervisor knows: which process died, how often, and which one gave up.

Two halves around one small JSON file in ``var/`` (``supervision.json``):

- ``python -m plant.supervision listen FILE`` runs inside supervisord as an event listener.
  It records every unexpected exit and every FATAL state (a process that would not stay up
  through its start retries), keeps retrying a FATAL process with a growing delay (supervisord
  alone would leave it down for good, and nobody is in the cellar to notice), and rewrites
  the file at least every 5 s.
- :func:`process_report` reads the file for ``/api/health`` and the page header, so a process
  that keeps crashing is reported instead of being hidden by its restarts.

Without supervisord (docker compose, the test stacks) the file is absent or stale and the
report says so: the processes are then someone else's to restart.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

STATE_FILE_NAME = "supervision.json"
# A process that exits unexpectedly this often within the window is reported as crashing.
CRASH_WINDOW_S = 600.0
CRASH_COUNT = 3
# The listener rewrites the file every 5 s (TICK_5); older than this, no supervisor is running.
STALE_AFTER_S = 30.0
# A FATAL process is started again after 30 s, 60 s, 120 s ... at most 10 minutes.
FATAL_RETRY_FIRST_S = 30.0
FATAL_RETRY_MAX_S = 600.0
BAD_STATES = frozenset({"FATAL", "BACKOFF"})


# --- reading (web process) --------------------------------------------------------------------
def state_file(var_dir: Path) -> Path:
    return var_dir / STATE_FILE_NAME


def process_report(var_dir: Path, now: float | None = None) -> dict[str, Any]:
    """``{"ok", "supervised", "processes": {name: {...}}, "problems": [text, ...]}``.

    ``ok`` is false while a process is FATAL or in start-up backoff, or has exited
    unexpectedly ``CRASH_COUNT`` times within ``CRASH_WINDOW_S``.
    """
    now = time.time() if now is None else now
    try:
        data = json.loads(state_file(var_dir).read_text())
    except (OSError, ValueError):
        return {"ok": True, "supervised": False, "processes": {}, "problems": []}
    if now - float(data.get("updated_at", 0)) > STALE_AFTER_S:
        return {"ok": True, "supervised": False, "processes": {}, "problems": []}
    processes: dict[str, Any] = {}
    problems: list[str] = []
    for name, info in sorted(data.get("processes", {}).items()):
        recent = [t for t in info.get("exits", []) if now - t <= CRASH_WINDOW_S]
        state = str(info.get("state", "UNKNOWN"))
        crashing = len(recent) >= CRASH_COUNT
        processes[name] = {
            "state": state,
            "ok": state not in BAD_STATES and not crashing,
            "unexpected_exits_10min": len(recent),
            "last_exit": info.get("last_exit"),
        }
        if state == "FATAL":
            problems.append(f"{name} does not start (gave up after repeated failures; retrying)")
        elif crashing:
            problems.append(f"{name} keeps crashing ({len(recent)} restarts in {CRASH_WINDOW_S / 60:.0f} min)")
        elif state == "BACKOFF":
            problems.append(f"{name} is failing to start")
    return {"ok": not problems, "supervised": True, "processes": processes, "problems": problems}


# --- writing (the event listener inside supervisord) ------------------------------------------
@dataclass
class ProcessRecord:
    state: str = "UNKNOWN"
    exits: list[float] = field(default_factory=list)
    last_exit: dict[str, Any] | None = None
    fatal_retry_at: float | None = None
    fatal_retry_delay_s: float = FATAL_RETRY_FIRST_S


@dataclass
class Recorder:
    """The listener's memory. Pure apart from ``write``; ``handle`` returns the processes to start."""

    path: Path
    processes: dict[str, ProcessRecord] = field(default_factory=dict)

    def handle(self, event: str, payload: dict[str, str], now: float) -> list[str]:
        if event.startswith("PROCESS_STATE_"):
            name = payload.get("processname", "")
            record = self.processes.setdefault(name, ProcessRecord())
            record.state = event.removeprefix("PROCESS_STATE_")
            # BACKOFF: it died while still starting (within startsecs), which is a crash too.
            if record.state == "BACKOFF" or (record.state == "EXITED" and payload.get("expected") == "0"):
                record.exits = [t for t in record.exits if now - t <= CRASH_WINDOW_S] + [now]
                record.last_exit = {"at": now, "from_state": payload.get("from_state"), "pid": payload.get("pid")}
            elif record.state == "FATAL":
                record.fatal_retry_at = now + record.fatal_retry_delay_s
                record.fatal_retry_delay_s = min(record.fatal_retry_delay_s * 2, FATAL_RETRY_MAX_S)
            elif record.state == "RUNNING":
                record.fatal_retry_at = None
        due = [
            name
            for name, r in self.processes.items()
            if r.state == "FATAL" and r.fatal_retry_at is not None and r.fatal_retry_at <= now
        ]
        for name in due:
            self.processes[name].fatal_retry_at = None
        return due

    def reset_backoff(self, now: float) -> None:
        """A process that has run for a whole crash window starts its FATAL backoff from scratch."""
        for record in self.processes.values():
            if record.state == "RUNNING" and not [t for t in record.exits if now - t <= CRASH_WINDOW_S]:
                record.fatal_retry_delay_s = FATAL_RETRY_FIRST_S

    def write(self, now: float) -> None:
        data = {
            "updated_at": now,
            "processes": {
                name: {"state": r.state, "exits": r.exits, "last_exit": r.last_exit}
                for name, r in self.processes.items()
            },
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


def _parse_tokens(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def listen(path: Path, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """supervisord's event listener protocol: READY, one event, RESULT; forever."""
    from supervisor import childutils  # type: ignore[import-untyped]

    rpc = childutils.getRPCInterface(os.environ)
    recorder = Recorder(path)
    recorder.write(time.time())
    while True:
        stdout.write("READY\n")
        stdout.flush()
        header = _parse_tokens(stdin.readline())
        body = stdin.read(int(header.get("len", 0)))
        payload = _parse_tokens(body.split("\n", 1)[0])
        now = time.time()
        for name in recorder.handle(header.get("eventname", ""), payload, now):
            print(f"supervision: starting {name} again after it failed to start", file=sys.stderr, flush=True)
            try:
                rpc.supervisor.startProcess(name, False)
            except Exception as exc:  # noqa: BLE001 - it is retried at the next FATAL
                print(f"supervision: could not start {name}: {exc}", file=sys.stderr, flush=True)
        recorder.reset_backoff(now)
        recorder.write(now)
        stdout.write("RESULT 2\nOK")
        stdout.flush()


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] != "listen":
        sys.exit("usage: python -m plant.supervision listen STATE_FILE")
    listen(Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
