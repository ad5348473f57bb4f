"""300 cycles of a full plant against the simulator: wall time and CPU time per cycle.

The plant: the grid meter, three inverters (a PLENTICORE with its battery, a PIKO IQ, a PIKO EPC
over SunSpec) and an ENECTOR AC 11 on RS485 B (Modbus RTU over TCP, as behind a serial server)
with a car plugged in, read concurrently, with feed-in limitation on so setpoints are written.
The cycle runs exactly as the worker's task runs it (per-plant lock, device loop, Redis,
websocket group, counters and 5-minute log, the wallbox bookkeeping), against the simulator in
its own process. ``transactions_per_cycle`` counts the Modbus requests the cycle's clients send
(the bench wraps pymodbus' ``execute``; the product does not count).
Target on a 2-core machine: p99 <= 10 ms wall and <= 5 ms CPU per cycle.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import django_env, summary, write_result

SCENARIO = Path(__file__).resolve().parent.parent / "simulator" / "scenarios" / "home-3-inverters.json"
INVERTERS = (
    ("roof south", "plenticore", 10_000.0, True),
    ("garage", "piko_iq", 5_500.0, False),
    ("carport", "piko_epc", 4_200.0, False),
)
BOX = "wallbox"
FUSE_A = 35.0


@contextmanager
def counted_requests() -> Iterator[list[int]]:
    """Count every Modbus request of every pymodbus client in this process: ``[count]``."""
    from pymodbus.client.base import ModbusBaseClient

    count = [0]
    execute = ModbusBaseClient.execute

    def counting(self: Any, no_response_expected: bool, request: Any) -> Any:
        count[0] += 1
        return execute(self, no_response_expected, request)

    ModbusBaseClient.execute = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        ModbusBaseClient.execute = execute  # type: ignore[method-assign]


async def _call(function: Callable[[], None]) -> None:
    function()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interval-s", type=float, default=0.1, help="pause between cycles")
    parser.add_argument("--without-wallbox", action="store_true", help="leave the ENECTOR out (the TCP devices only)")
    parser.add_argument("--profile", metavar="FILE", help="also write a cProfile of the measured cycles (pstats)")
    args = parser.parse_args()
    from tests.stack import free_port

    port, inverter_base, box_port = free_port(), free_port() + 100, free_port()
    # The product finds the box on RS485 B: behind a serial server at the simulator's port.
    os.environ["KSEM_RS485_B"] = f"socket://127.0.0.1:{box_port}"
    with django_env("cycle") as var_dir:
        from energy.config import WALLBOX_ADDRESS
        from inverters.models import Inverter, PowerSettings
        from meter.models import Meter
        from plant.models import Plant
        from plant.options import WALLBOX, set_option
        from plant.runtime import device_loop, stop_device_loop
        from plant.tasks import run_cycle
        from plant.worker import guard_pass, shutdown_runtimes
        from wallbox.models import MainsSettings, Wallbox

        scenario = json.loads(SCENARIO.read_text())
        scenario["wallboxes"] = [
            {
                "name": BOX,
                "type": "enector_11",
                "address": WALLBOX_ADDRESS,
                "cars": [{"plug": "00:00", "phases": 3, "max_current_a": 16, "capacity_wh": 500_000}],
            }
        ]
        scenario_file = Path(tempfile.mkstemp(suffix=".json", dir=var_dir)[1])
        scenario_file.write_text(json.dumps(scenario))
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "--port",
                str(port),
                "--inverter-port-base",
                str(inverter_base),
                "--wallbox-port-base",
                str(box_port - 1),
                "--scenario",
                str(scenario_file),
                "--start",
                "2025-06-21T11:00:00+00:00",
                "--log-level",
                "WARNING",
            ]
        )
        plant = Plant.objects.create(name="bench")
        Meter.objects.create(plant=plant, port=port)
        for n, (name, kind, max_ac_w, battery) in enumerate(INVERTERS, start=1):
            Inverter.objects.create(
                plant=plant, name=name, type=kind, max_ac_w=max_ac_w, with_battery=battery,
                host="127.0.0.1", port=inverter_base + n, unit_id=71, timeout_s=0.5, position=n,
            )  # fmt: skip
        PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=True, limit_mode="pct", limit_value=60)
        if not args.without_wallbox:
            set_option(plant, WALLBOX)
            MainsSettings.objects.create(plant=plant, phases=3, fuse_l1_a=FUSE_A, fuse_l2_a=FUSE_A, fuse_l3_a=FUSE_A)
            Wallbox.objects.create(plant=plant, name=BOX, type="enector_11", interface="B", address=WALLBOX_ADDRESS)
        try:
            time.sleep(1.5)
            for _ in range(5):  # warm up: connect, first counters row
                run_cycle.run(plant.pk)
            from plant import worker

            wall_ms, cpu_ms, system_ms, offline = [], [], [], 0
            steady_cpu_ms = []  # the cycles that did not reload the plant's settings (every 5 s)
            # The main thread (task, Redis, database) and the device loop's thread (drivers,
            # controllers, publishing) each get a profiler (cProfile sees one thread only) that
            # counts the thread's CPU time, not wall time (a send that gets preempted is not CPU).
            profiler = cProfile.Profile(time.thread_time) if args.profile else None
            loop_profiler = cProfile.Profile(time.thread_time) if args.profile else None
            with counted_requests() as requests:
                if profiler is not None and loop_profiler is not None:
                    device_loop().run(_call(loop_profiler.enable), timeout_s=1.0)
                    profiler.enable()
                for _ in range(args.cycles):
                    loaded_at = worker._runtimes[plant.pk].config_loaded_at
                    wall, cpu, system = time.perf_counter(), time.process_time(), os.times().system
                    run_cycle.run(plant.pk)
                    wall_ms.append((time.perf_counter() - wall) * 1000)
                    cpu_ms.append((time.process_time() - cpu) * 1000)
                    if worker._runtimes[plant.pk].config_loaded_at == loaded_at:
                        steady_cpu_ms.append(cpu_ms[-1])
                    system_ms.append((os.times().system - system) * 1000)
                    time.sleep(args.interval_s)
                if profiler is not None and loop_profiler is not None:
                    profiler.disable()
                    device_loop().run(_call(loop_profiler.disable), timeout_s=1.0)
                    stats = pstats.Stats(profiler)
                    stats.add(loop_profiler)
                    stats.dump_stats(args.profile)
            # The sub-second guard's pass (as the worker's guard thread runs it, 4 between cycles).
            guard_wall_ms, guard_cpu_ms = [], []
            with counted_requests() as guard_requests:
                for _ in range(args.cycles):
                    wall, cpu = time.perf_counter(), time.process_time()
                    guard_pass(plant.pk, 0.2)
                    guard_wall_ms.append((time.perf_counter() - wall) * 1000)
                    guard_cpu_ms.append((time.process_time() - cpu) * 1000)
                    time.sleep(0.2)
            from plant import live

            published = live.read_state(plant.pk)
            offline = 0 if published and published.meter_status.online else 1
            inverters_online = sum(inv.status.online for inv in published.inverters) if published else 0
            setpoints = len(published.setpoints) if published else 0
            wallboxes_online = sum(box.status.online for box in published.wallboxes) if published else 0
        finally:
            shutdown_runtimes()
            stop_device_loop()
            simulator.terminate()
            simulator.wait(5)
        write_result(
            "cycle-without-wallbox" if args.without_wallbox else "cycle",
            {
                "cycles": args.cycles,
                "transactions_per_cycle": round(requests[0] / args.cycles, 2),
                "wall_ms": summary(wall_ms),
                "cpu_ms": summary(cpu_ms),
                # without the cycles that reloaded the settings (the 5 s backstop, 7 queries)
                "cpu_ms_without_reload": summary(steady_cpu_ms),
                "settings_reloads": len(cpu_ms) - len(steady_cpu_ms),
                # the kernel's share of the CPU time (socket calls), at the clock tick's resolution
                "cpu_system_ms_mean": round(sum(system_ms) / len(system_ms), 3),
                "guard_pass_wall_ms": summary(guard_wall_ms),
                "guard_pass_cpu_ms": summary(guard_cpu_ms),
                "transactions_per_guard_pass": round(guard_requests[0] / args.cycles, 2),
                "meter_offline_at_end": offline,
                "inverters_online_at_end": inverters_online,
                "setpoints_at_end": setpoints,
                "wallboxes_online_at_end": wallboxes_online,
            },
            {"wall_ms_p99": 10, "cpu_ms_p99": 5},
        )


if __name__ == "__main__":
    main()
