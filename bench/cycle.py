"""300 cycles against the simulator: wall time and CPU time per cycle.

The cycle runs exactly as the worker's task runs it (per-plant lock, device loop, Redis,
websocket group, counters and 5-minute log), against the simulator in its own process.
Target on a 2-core machine: p99 <= 50 ms wall and <= 10 ms CPU per cycle.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import django_env, summary, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interval-s", type=float, default=0.1, help="pause between cycles")
    args = parser.parse_args()
    with django_env("cycle"):
        from meter.models import Meter
        from plant.models import Plant
        from plant.runtime import stop_device_loop
        from plant.services import shutdown_runtimes
        from plant.tasks import run_cycle
        from tests.stack import free_port

        port = free_port()
        simulator = subprocess.Popen([sys.executable, "-m", "simulator", "--port", str(port)])
        plant = Plant.objects.create(name="bench")
        Meter.objects.create(plant=plant, port=port)
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

            offline = 0 if (live.read_state(plant.pk) or {}).get("meter_status", {}).get("online") else 1
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
            },
            {"wall_ms_p99": 50, "cpu_ms_p99": 10},
        )


if __name__ == "__main__":
    main()
