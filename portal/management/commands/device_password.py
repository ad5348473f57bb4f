from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal.services import reset_device_password


class Command(BaseCommand):
    help = "Set a new random device password and print it as the last line (for the person at the machine)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", required=True, help="set and print a new password")

    def handle(self, *args: Any, **options: Any) -> None:
        password = reset_device_password()
        self.stdout.write("New device password (stored only as a hash; write it down):")
        self.stdout.write(password)
