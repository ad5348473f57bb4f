"""EEBus end to end: the control box's LPC write to the lowered current at the wallbox.

The product runs as ``make run`` runs it: ``manage.py serve_eebus``, Celery beat's 1 s tick and a
worker, against the simulator in real time (a grid meter, an ENECTOR AC 11 on RS485 B behind a
serial server, a 3-phase car drawing 16 A, about 11 kW, a house of about 1.5 kW). The simulated
control box (``python -m simulator.controlbox``, its own process) is coupled with the plant by
SKI and connected over SHIP/SPINE on loopback. 50 times the box writes an LPC limit below what the
plant draws (alternately 8.0 and 9.5 kW, 15 minutes: the car goes down to about 9 or 11 A); measured per write: from the box's write
(the wall time the box records as it sends it) to the first current-limit write the simulated
wallbox receives below the current it had (the simulator records every register write with its
wall time; nothing of the product is asked). Then the box ends the limit (inactive LPC), the car
goes back to 16 A, and the next write comes at a random moment of the tick. Target: p99 <= 1.5 s.

    python -m bench.eebus [--writes 50]

``--memory-minutes N`` measures instead the memory of ``serve_eebus`` over N minutes with that one
peer: the control box's heartbeat runs, a limit is written every minute (alternating, each a
change), the plant cycles, the RSS of the serve_eebus process is sampled every 10 s
(``bench/results/eebus_memory.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import RESULTS, django_env, summary, write_result
from tests.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BOX = "carport"
FUSE_A = 63.0  # the fuse guard stays out of it: only the grid operator's limit lowers the car
FULL_A = 16.0
# Both leave the car above its 6 A minimum (house ~1.5 kW): the box lowers the current, no pause.
LIMITS_W = (8_000.0, 9_500.0)
LIMIT_DURATION_S = 900


def box_call(port: int, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The simulated control box's scripting HTTP (``simulator.controlbox``)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def wait(predicate: Callable[[], Any], timeout_s: float, what: str, logs: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            kept = Path(tempfile.gettempdir()) / f"eebus-bench-logs-{os.getpid()}"
            shutil.copytree(logs, kept, dirs_exist_ok=True)
            raise SystemExit(f"timed out waiting for {what}; logs in {kept}")
        time.sleep(0.02)


def current_writes(sim: Any, after_wall_s: float) -> list[tuple[float, float]]:
    """(wall time, current in A) of every current-limit write that reached the box after ``after_wall_s``."""
    from wallbox import registers as reg

    return [
        (w.wall_s, reg.decode_float(w.words[:2]))
        for w in sim.model.wallbox_writes(BOX)
        if w.address == reg.CHARGING_CURRENT_EM and len(w.words) >= 2 and w.wall_s > after_wall_s
    ]


@contextmanager
def running_stack(var_dir: Path, box_port_rtu: int, with_cycle: bool = True) -> Iterator[dict[str, Any]]:
    """Simulator (in this process), serve_eebus, worker, beat and the control box (subprocesses),
    the box coupled and connected. Yields what the measurements need."""
    from energy.config import WALLBOX_ADDRESS
    from meter.models import Meter
    from plant import live
    from plant.models import Plant
    from plant.options import WALLBOX, set_option
    from simulator.scenario import scenario_from_dict
    from simulator.testing import run_simulator_in_thread
    from smartgrid import services
    from smartgrid.eebus import identities, store
    from wallbox.models import MainsSettings, Wallbox

    scenario = scenario_from_dict(
        {
            "pv_peak_w": 0,
            "house_base_w": 1500,
            "cloudiness": 0.0,
            "battery": None,
            "wallboxes": [
                {
                    "name": BOX,
                    "type": "enector_11",
                    "address": WALLBOX_ADDRESS,
                    "cars": [{"plug": "00:00", "phases": 3, "max_current_a": 16, "capacity_wh": 5_000_000}],
                }
            ],
        }
    )
    night = dt.datetime(2025, 6, 21, 20, 0, tzinfo=dt.UTC)
    logs = var_dir / "logs"
    logs.mkdir(exist_ok=True)
    with run_simulator_in_thread(seed=5, scenario=scenario, start=night, wallbox_port_base=box_port_rtu - 1) as sim:
        plant = Plant.objects.create(name="bench")
        Meter.objects.create(plant=plant, port=sim.port)
        set_option(plant, WALLBOX)
        MainsSettings.objects.create(plant=plant, phases=3, fuse_l1_a=FUSE_A, fuse_l2_a=FUSE_A, fuse_l3_a=FUSE_A)
        Wallbox.objects.create(plant=plant, name=BOX, type="enector_11", interface="B", address=WALLBOX_ADDRESS)
        services.set_enabled(plant.pk, True)
        own = identities.load(plant.pk)
        box_dir = var_dir / "controlbox"
        box_dir.mkdir()
        (box_dir / "trusted").write_text(own.ski + "\n")  # the box's installer trusted the plant
        ship_port, box_port, control_port = free_port(), free_port(), free_port()
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="ksem_site.settings", PYTHONUNBUFFERED="1")
        commands = {
            "controlbox": [str(BIN / "python"), "-m", "simulator.controlbox", "--port", str(box_port),
                           "--control-port", str(control_port), "--state-dir", str(box_dir), "--no-mdns"],
            "serve_eebus": [str(BIN / "python"), "manage.py", "serve_eebus", "--host", "127.0.0.1",
                            "--port", str(ship_port), "--no-mdns"],
        }  # fmt: skip
        if with_cycle:
            commands["worker"] = [str(BIN / "celery"), "-A", "ksem_site", "worker", "-Q", "realtime,default",
                                  "-P", "threads", "-c", "4", "--without-gossip", "--without-mingle",
                                  "--without-heartbeat", "-l", "warning"]  # fmt: skip
            commands["beat"] = [
                str(BIN / "celery"), "-A", "ksem_site", "beat", "-l", "warning", "-s", str(var_dir / "beat-schedule")
            ]  # fmt: skip
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, command in commands.items():
                with (logs / f"{name}.log").open("ab") as out:
                    processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            box_ski = wait(lambda: box_call(control_port, "/state")["ski"], 60, "the control box", logs)
            # The installer's "new connection by host and SKI" (mDNS is off: nothing else to find).
            store.connect(plant.pk, "127.0.0.1", box_port, box_ski)

            def ready() -> bool:
                observed = box_call(control_port, "/state").get("observed", {}).get(own.ski, {})
                return bool(observed.get("ready"))

            wait(ready, 120, "SHIP and SPINE between the plant and the box", logs)
            # A fresh controllable system starts in init with the failsafe values in force (10 kW
            # would hold the car below 16 A); the box's first write (no limit) ends that.
            box_call(control_port, "/lpc", {"value_w": 0, "active": False})
            if with_cycle:
                wait(
                    lambda: (
                        (state := live.read_state(plant.pk)) is not None
                        and len(state.wallboxes) == 1
                        and state.wallboxes[0].status.online
                    ),
                    120,
                    "the stack to cycle the plant with its wallbox",
                    logs,
                )
            yield {
                "sim": sim,
                "plant": plant,
                "control_port": control_port,
                "processes": processes,
                "logs": logs,
            }
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()


def ship_figures() -> dict[str, Any]:
    """The SHIP handshake figures of ``bench/eebus_ship.py`` (its own result file), if it ran."""
    path = RESULTS / "eebus_ship.json"
    if not path.exists():
        return {}
    result = json.loads(path.read_text())
    figures = result.get("figures", {})
    return {
        "source": "bench/results/eebus_ship.json",
        "measured_at": result.get("measured_at"),
        "p50_ms": figures.get("p50_ms"),
        "p99_ms": figures.get("p99_ms"),
    }


def measure_writes(writes: int) -> None:
    rtu_port = free_port()
    os.environ["KSEM_RS485_B"] = f"socket://127.0.0.1:{rtu_port}"
    with django_env("eebus") as var_dir, running_stack(var_dir, rtu_port) as stack:
        sim, control_port, logs = stack["sim"], stack["control_port"], stack["logs"]

        def car_a() -> float:
            return float(sim.model.wallbox_truths()[BOX].offered_a)

        wait(lambda: car_a() >= FULL_A - 0.01, 120, "the car charging at 16 A", logs)
        lowered_s: list[float] = []
        lowered_to_a: list[float] = []
        released_s: list[float] = []
        offsets = random.Random(16)
        for k in range(writes):
            wait(lambda: car_a() >= FULL_A - 0.01, 60, "the car back at 16 A", logs)
            time.sleep(0.5 + offsets.random())
            before_a = car_a()
            value = LIMITS_W[k % 2]
            answer = box_call(control_port, "/lpc", {"value_w": value, "duration_s": LIMIT_DURATION_S})
            if [r["error"] for r in answer["results"]] != [0]:
                raise SystemExit(f"the plant refused the limit: {answer}")
            written_at = float(box_call(control_port, "/state")["lpc"]["at"])

            def cut(t: float = written_at, b: float = before_a) -> bool:
                return any(a < b - 0.5 for _, a in current_writes(sim, t))

            wait(cut, 30, "a lowered current at the wallbox", logs)
            at, current = next((w, a) for w, a in current_writes(sim, written_at) if a < before_a - 0.5)
            lowered_s.append(at - written_at)
            lowered_to_a.append(current)
            time.sleep(1.0)
            released = time.time()
            box_call(control_port, "/lpc", {"value_w": value, "duration_s": LIMIT_DURATION_S, "active": False})
            wait(lambda: car_a() >= FULL_A - 0.01, 60, "the car back at 16 A after the limit ended", logs)
            released_s.append(time.time() - released)
            print(f"write {k + 1}: {value:.0f} W, lowered to {current:.1f} A after {lowered_s[-1]:.3f} s", flush=True)
    lowered = summary(lowered_s)
    write_result(
        "eebus",
        {
            "writes": writes,
            "p50_s": lowered["p50"],
            "p99_s": lowered["p99"],
            "write_to_lowered_current_s": lowered,
            "lowered_to_a": summary(lowered_to_a),
            "limits_w": list(LIMITS_W),
            "house_w": 1500,
            "car_a": FULL_A,
            "release_to_full_current_s": summary(released_s),
            "ship_handshake": ship_figures(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        },
        {"p99_s": "<= 1.5"},
    )


def measure_memory(minutes: float, sample_s: float, write_every_s: float) -> None:
    import psutil

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # stopped early: report the time it ran
    rtu_port = free_port()
    os.environ["KSEM_RS485_B"] = f"socket://127.0.0.1:{rtu_port}"
    samples: list[tuple[float, float]] = []
    limits_written = 0
    refused = 0
    with django_env("eebus-memory") as var_dir, running_stack(var_dir, rtu_port) as stack:
        control_port, logs = stack["control_port"], stack["logs"]
        serve = psutil.Process(stack["processes"]["serve_eebus"].pid)
        started = time.monotonic()
        next_write = started
        end = started + minutes * 60
        try:
            while True:
                now = time.monotonic()
                if stack["processes"]["serve_eebus"].poll() is not None:
                    raise SystemExit(f"serve_eebus exited; logs in {logs}")
                if now >= next_write and now < end:
                    value = LIMITS_W[limits_written % 2]
                    answer = box_call(control_port, "/lpc", {"value_w": value, "duration_s": LIMIT_DURATION_S})
                    limits_written += 1
                    refused += sum(1 for r in answer["results"] if r["error"] != 0)
                    next_write += write_every_s
                samples.append((time.monotonic() - started, serve.memory_info().rss / 2**20))
                print(f"{samples[-1][0]:8.0f} s  rss {samples[-1][1]:.1f} MB", flush=True)
                if now >= end:
                    break
                time.sleep(min(sample_s, max(0.0, end - time.monotonic())))
        except KeyboardInterrupt:  # a shortened run still reports what it saw, with its real duration
            pass
        state = box_call(control_port, "/state")
        heartbeats = state.get("observed", {})
        connected = state.get("connected", [])
    rss = [mb for _, mb in samples]
    write_result(
        "eebus_memory",
        {
            "duration_s": round(samples[-1][0], 1),
            "duration_min": round(samples[-1][0] / 60, 1),
            "rss_start_mb": round(rss[0], 1),
            "rss_end_mb": round(rss[-1], 1),
            "rss_peak_mb": round(max(rss), 1),
            "samples": len(samples),
            "sample_every_s": sample_s,
            "limits_written": limits_written,
            "limits_refused": refused,
            "peers": 1,
            "connected_at_end": len(connected),
            "heartbeats_received_by_box": {ski: o.get("heartbeats_received") for ski, o in heartbeats.items()},
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "rss_mb_every_5_min": [round(mb, 1) for t, mb in samples if int(t) % 300 < sample_s],
        },
        {"rss_end_mb": "no growth beyond noise over the hour"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--memory-minutes", type=float, default=0, help="measure serve_eebus's memory instead")
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS sample period of the memory mode")
    parser.add_argument("--write-every-s", type=float, default=60.0, help="limit period of the memory mode")
    args = parser.parse_args()
    if args.memory_minutes > 0:
        measure_memory(args.memory_minutes, args.sample_s, args.write_every_s)
    else:
        measure_writes(args.writes)


if __name__ == "__main__":
    main()
