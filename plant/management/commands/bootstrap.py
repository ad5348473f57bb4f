"""First-start setup: the device account and, when there is none, a plant.

Idempotent: run on every ``make run``; it only creates what is missing and prints the
initial device password only the one time it is created. With ``KSEM_SIMULATOR=off`` (a real
installation) the first plant gets no meter: it is set in /admin/ to the real one.

It knows nothing of the simulator: a development start that wants the simulated plant's
inverters and wallboxes runs ``bootstrap_simulated`` (replay/), which extends this command
through :meth:`Command.add_devices`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from meter.models import Meter
from plant import live
from plant.models import Plant
from portal.services import ensure_device_user


class Command(BaseCommand):
    help = "Create the device account and a first plant if missing; print the initial device password once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--plant-name", default="My plant")
        parser.add_argument("--meter-host", default="127.0.0.1")
        parser.add_argument("--meter-port", type=int, default=15020)
        parser.add_argument(
            "--meter",
            action=argparse.BooleanOptionalAction,
            default=os.environ.get("KSEM_SIMULATOR", "on").strip().lower() not in {"off", "false", "0", "no"},
            help="give the first plant a meter at --meter-host:--meter-port (default: yes, no when KSEM_SIMULATOR=off)",
        )
        parser.add_argument("--web-url", default="http://127.0.0.1:8000", help="where people log in (printed)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Runs before Redis and the workers start: nobody to tell of the settings it saves (the
        # announcements run at the commit, so the commit is inside the block).
        with live.unannounced(), transaction.atomic():
            self.set_up(options)

    def set_up(self, options: dict[str, Any]) -> None:
        if not Plant.objects.exists():
            plant = Plant.objects.create(name=options["plant_name"])
            if not options["meter"]:
                self.stdout.write(f"Created plant {plant.name!r} without a meter: set the real one in /admin/.")
            else:
                Meter.objects.create(plant=plant, host=options["meter_host"], port=options["meter_port"])
                self.stdout.write(
                    f"Created plant {plant.name!r} with its meter at {options['meter_host']}:{options['meter_port']}."
                )
                self.add_devices(plant, options)
        password = ensure_device_user()
        if password:
            line = "=" * 60
            self.stdout.write(
                f"{line}\n  Initial device password (shown only now):  {password}\n"
                f"  Log in at {options['web_url']} . A new one: python manage.py device_password --reset\n{line}"
            )

    def add_devices(self, plant: Plant, options: dict[str, Any]) -> None:
        """More devices for a new plant with a meter: none here (``bootstrap_simulated`` adds the
        simulator's)."""
