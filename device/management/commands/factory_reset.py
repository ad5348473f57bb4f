"""``manage.py factory_reset --yes``: every setting and all data removed, a new initial device
password printed (device/reset.py says what is kept)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from device import reset


class Command(BaseCommand):
    help = "Reset the device to its factory state: all settings and data removed, a new initial password printed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="really do it (nothing happens without it)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            raise CommandError("This removes every setting and all data. Run it again with --yes to go ahead.")

        def progress(fraction: float, message: str) -> None:
            if options["verbosity"] > 0:
                self.stderr.write(f"{100 * fraction:3.0f} % {message}")

        password, serial = reset.factory_reset(progress)
        self.stdout.write(f"Serial number kept: {serial}")
        reset.print_password(password, self.stdout)
