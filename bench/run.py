"""`make bench`: every benchmark in its own process, results in bench/results/*.json."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.cycle",
    "bench.live",
    "bench.memory",
    "bench.recovery",
    "bench.replay",
    "bench.curtailment",
    "bench.wallbox",
    "bench.rs485",
    "bench.modbus_slave",
    "bench.tariffs",
    "bench.api",
    "bench.eebus_ship",
    "bench.eebus_write",
    "bench.eebus",
    "bench.backup",
    "bench.mqtt",
    "bench.forecast",
    "bench.fleet",
    "bench.solar_rhythm",
    "bench.storage",
    "bench.plant_list",
    "bench.soak",  # 50 plants for an hour of wall-clock time: the longest
)


def main() -> None:
    failed = [name for name in BENCHMARKS if subprocess.call([sys.executable, "-m", name]) != 0]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
