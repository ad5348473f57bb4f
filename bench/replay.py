"""Wall time of one simulated hour of replay: 3 inverters (one with a battery), 1 s cycle.

The product's own cycle, drivers and controllers against the simulator over loopback, in
stepped time (`python manage.py replay`). Target on a 2-core machine: <= 36 s (100 x real time).
``--scenario`` replays another scenario instead (e.g. one with an ENECTOR on its RS485 line);
its figures then go to ``replay-<scenario>.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import django_env, write_result

SCENARIO = Path(__file__).resolve().parent.parent / "simulator" / "scenarios" / "bench-hour.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    args = parser.parse_args()
    with django_env("replay"), tempfile.TemporaryDirectory(prefix="ksem-replay-") as out:
        from replay.engine import Replay
        from replay.scenario import load_replay_scenario

        replay, scenario = load_replay_scenario(args.scenario)
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = Replay(replay, scenario, hours=args.hours).run(Path(out))
        wall_s = time.perf_counter() - started
        # Nothing in a replay sleeps: on a quiet machine the wall time is this CPU time; on a
        # shared one the CPU time is what still compares (speed_x_cpu).
        cpu_s = time.process_time() - cpu_started
        cycle_ms = [float(line.rsplit(",", 1)[1]) for line in (Path(out) / "trace.csv").read_text().splitlines()[1:]]
    cycle_ms.sort()
    write_result(
        "replay" if args.scenario == SCENARIO else f"replay-{args.scenario.stem}",
        {
            "scenario": args.scenario.name,
            "simulated_hours": args.hours,
            "cycles": summary["cycles"],
            "wall_s": round(wall_s, 2),
            "speed_x": round(args.hours * 3600 / wall_s, 1),
            "cpu_s": round(cpu_s, 2),
            "speed_x_cpu": round(args.hours * 3600 / cpu_s, 1),
            "cycle_ms_p50": cycle_ms[len(cycle_ms) // 2],
            "cycle_ms_p99": cycle_ms[int(len(cycle_ms) * 0.99)],
            "max_cycles_above_feed_in_limit": summary["max_cycles_above_feed_in_limit"],
        },
        # 100 x real time at first; the replay issue asks for 300 x.
        {"wall_s": round(args.hours * 3600 / 100, 1), "speed_x": 300.0},
    )


if __name__ == "__main__":
    main()
