"""300 cycles of a full plant against the simulator: wall time and CPU time per cycle.

The plant: the grid meter, three inverters (a PLENTICORE with its battery, a PIKO IQ, a PIKO EPC
over SunSpec), read concurrently, with feed-in limitation on so setpoints are written. The
cycle runs exactly as the worker's task runs it (per-plant lock, device loop, Redis, websocket
group, counters and 5-minute log), against the simulator in its own process.
Target on a 2-core machine: p99 <= 20 ms wall and <= 5 ms CPU per cycle.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.common import django_env, summary, write_result

SCENARIO = Path(__file__).resolve().parent.parent / "simulator" / "scenarios" / "home-3-inverters.json"
INVERTERS = (
    ("roof south", "plenticore", 10_000.0, True),
    ("garage", "piko_iq", 5_500.0, False),
    ("carport", "piko_epc", 4_200.0, False),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interval-s", type=float, default=0.1, help="pause between cycles")
    args = parser.parse_args()
    with django_env("cycle"):
        from inverters.models import Inverter, PowerSettings
        from meter.models import Meter
        from plant.models import Plant
        from plant.runtime import stop_device_loop
        from plant.tasks import run_cycle
        from plant.worker import shutdown_runtimes
        from tests.stack import free_port

        port, inverter_base = free_port(), free_port() + 100
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "--port",
                str(port),
                "--inverter-port-base",
                str(inverter_base),
                "--scenario",
                str(SCENARIO),
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
        try:
            time.sleep(1.5)
            for _ in range(5):  # warm up: connect, first counters row
                run_cycle.run(plant.pk)
            wall_ms, cpu_ms, offline = [], [], 0
            for _ in range(args.cycles):
                wall, cpu = time.perf_counter(), time.process_time()
                run_cycle.run(plant.pk)
                wall_ms.append((time.perf_counter() - wall) * 1000)
                cpu_ms.append((time.process_time() - cpu) * 1000)
                time.sleep(args.interval_s)
            from plant import live

            published = live.read_state(plant.pk)
            offline = 0 if published and published.meter_status.online else 1
            inverters_online = sum(inv.status.online for inv in published.inverters) if published else 0
            setpoints = len(published.setpoints) if published else 0
        finally:
            shutdown_runtimes()
            stop_device_loop()
            simulator.terminate()
            simulator.wait(5)
        write_result(
            "cycle",
            {
                "cycles": args.cycles,
                "wall_ms": summary(wall_ms),
                "cpu_ms": summary(cpu_ms),
                "meter_offline_at_end": offline,
                "inverters_online_at_end": inverters_online,
                "setpoints_at_end": setpoints,
            },
            {"wall_ms_p99": 20, "cpu_ms_p99": 5},
        )


if __name__ == "__main__":
    main()
