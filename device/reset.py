"""Factory reset (DEV-8): every setting and all data removed, a new initial device password.

What it does, in this order:

1. notes the device's serial number (the first plant's; activation codes are bound to it) and
   empties every table of the database (``manage.py flush``: plants, devices, history, logs,
   people, memberships, tokens, sessions, device settings);
2. removes the backups kept on the device (``<var>/backups``);
3. creates one plant "My plant" without a meter (as a real installation's first start does:
   the meter is set in /admin/) carrying the same serial number, and the device account with
   a new random password, printed on the console of the process that ran the reset (the
   worker's, which supervisord, systemd or docker compose show), never stored in clear, never
   in a log file or the job record;
4. removes the plants' last live snapshots from Redis and tells the running cycle to reload its
   configuration.

Kept: the device's identity (its secret key, serial number, HTTPS and Modbus TLS certificates,
EEBus keys) and the system logs. The wallboxes themselves are not touched: a wallbox moved to
Modbus address 100 during set-up keeps that address, as the manual warns.

``manage.py factory_reset --yes`` runs it at the machine; the device page runs it as a device
job in the worker (:data:`KIND`) with progress.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import redis
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

import devicejobs
import redisconn
from plant import live
from plant.models import Plant
from portal.services import DEVICE_USERNAME, ensure_device_user

log = logging.getLogger(__name__)
KIND = "device.factory_reset"
FIRST_PLANT_NAME = "My plant"
CONFIRM_WORD = "RESET"

Progress = Callable[[float, str], None]


def register_kinds() -> None:
    devicejobs.register(KIND, "device.reset:reset_job")


def device_serial() -> str:
    plant = Plant.objects.order_by("pk").first()
    return plant.serial_number if plant is not None else ""


def confirmation_matches(typed: str) -> bool:
    """The installer typed RESET or the device's serial number (case and spaces do not matter)."""
    text = typed.strip()
    if not text:
        return False
    serial = device_serial()
    return text.upper() == CONFIRM_WORD or (bool(serial) and text.upper() == serial.upper())


class Console(Protocol):
    def write(self, text: str) -> Any: ...

    def flush(self) -> Any: ...


def print_password(password: str, console: Console | None = None) -> None:
    out = console or sys.__stdout__ or sys.stdout
    line = "=" * 60
    out.write(
        f"{line}\n  Factory reset done. New initial device password for {DEVICE_USERNAME!r}:  {password}\n"
        f"  (shown only now; a new one: python manage.py device_password --reset)\n{line}\n"
    )
    out.flush()


def factory_reset(progress: Progress | None = None) -> tuple[str, str]:
    """Reset the device; returns (the new initial password, the serial number kept)."""
    step = progress or (lambda fraction, message: None)
    step(0.05, "Removing every setting and all data")
    serial = device_serial()
    call_command("flush", interactive=False, verbosity=0)
    step(0.6, "Removing the backups kept on the device")
    shutil.rmtree(Path(settings.VAR_DIR) / "backups", ignore_errors=True)
    step(0.8, "Creating the first plant and the device account")
    with transaction.atomic():
        plant = Plant(name=FIRST_PLANT_NAME)
        if serial:
            plant.serial_number = serial
        plant.save()
        password = ensure_device_user()
    if password is None:  # flush left the account: cannot happen unless another process made it
        raise RuntimeError("the device account exists after the reset")
    step(0.95, "Telling the cycle to reload its settings")
    _forget_live_values()
    live.bump_config_generation()
    return password, plant.serial_number


def _forget_live_values() -> None:
    """The plants' last snapshots in Redis go too (the new plant may get an old one's id)."""
    try:
        client = redisconn.sync_redis()
        stale = list(client.scan_iter(match=redisconn.key("plant", "*", "state"), count=1000))
        if stale:
            client.delete(*stale)
    except redis.RedisError as error:
        log.warning("factory reset: the live values in Redis stay until they are replaced (%s)", error)


def reset_job(params: dict[str, Any], run: devicejobs.Runner, progress: devicejobs.Progress) -> dict[str, Any]:
    password, serial = factory_reset(progress)
    print_password(password)
    return {"serial_number": serial}
