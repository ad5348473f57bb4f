"""The vendor's side of ACT-1: the activation code of an option for a device serial number.

The key comes from ``KSEM_ACTIVATION_KEY`` (or ``--key-file``); it is never stored in the
repository. The device that is to accept the code needs the same key in its environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import activation


class Command(BaseCommand):
    help = "Print the ten-digit activation code of an option for a device serial number (vendor side)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--serial", required=True, help="the device's serial number (shown on its Activation codes page)"
        )
        parser.add_argument("--option", required=True, choices=activation.OPTIONS, help="the option to release")
        parser.add_argument(
            "--key-file", type=Path, help="read the vendor key from this file instead of KSEM_ACTIVATION_KEY"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            serial = activation.normalise_serial(options["serial"])
            if options["key_file"] is not None:
                key: bytes | None = activation.parse_key(options["key_file"].read_text())
            else:
                key = activation.vendor_key()
        except (ValueError, OSError) as error:
            raise CommandError(str(error)) from None
        if key is None:
            raise CommandError(f"no vendor key: set {activation.KEY_ENV} or pass --key-file")
        self.stdout.write(activation.code_for(key, serial, options["option"]))
