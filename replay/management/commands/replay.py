"""``python manage.py replay SCENARIO.json --out DIR [--seed N] [--hours H] [--policy evcc]``.

Runs the product's cycle against the simulated plant in stepped time and writes
``DIR/trace.csv`` and ``DIR/summary.json``; prints the summary. A bad scenario exits 2 with a
message naming the key.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from replay.engine import Replay, print_summary
from replay.policies import POLICIES
from replay.scenario import ReplayError, load_replay_scenario


class Command(BaseCommand):
    help = "Replay a scenario against the simulated plant in accelerated time and write its trace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", help="scenario file (JSON)")
        parser.add_argument("--out", required=True, help="directory for trace.csv and summary.json")
        parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
        parser.add_argument("--hours", type=float, default=None, help="simulated hours (default: the scenario's)")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        parser.add_argument(
            "--policy",
            choices=POLICIES,
            default=POLICIES[0],
            help="who charges the cars: the product's modes (default), or evcc's PV mode as a reference",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            replay, scenario = load_replay_scenario(options["scenario"])
        except ReplayError as exc:
            self.stderr.write(f"replay: {exc}")
            sys.exit(2)
        hours = options["hours"]
        if hours is not None and not 0 < hours <= 48:
            self.stderr.write(f"replay: --hours: must be between 0 and 48, got {hours:g}")
            sys.exit(2)
        runner = Replay(
            replay,
            scenario,
            seed=options["seed"],
            hours=hours,
            progress=None if options["quiet"] else sys.stderr,
            policy=options["policy"],
        )
        summary = runner.run(Path(options["out"]))
        print_summary(summary, sys.stdout)
