"""Setup on the RS485 line (WB-2): the 50 -> 100 address move, deferred while a vehicle is
plugged in; 50 written back on delete; a box found at its address after a factory reset of this
manager is adopted; its info (serial, hardware, firmware) read.

Pages and the API send each talk with a box as a job to the worker and wait for it
(:func:`via_worker`); the worker's side is :mod:`wallbox.device_jobs`, the only module that loads
the ENECTOR driver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from energy import config as energy
from wallbox import jobs
from wallbox.configs import serial_config
from wallbox.models import Wallbox, line_name
from wallbox.rules import next_address, used_addresses

# A setup call to the box may take a few Modbus round trips.
SETUP_DEADLINE_S = 10.0


class SetupError(ValidationError):
    """The box could not be set up (or reached); the message says which and why."""


# How a service reaches the box: ``device(op, params) -> info dict``, raising DeviceJobError.
# Pages and the API send a job to the worker and wait for it (:func:`via_worker`); a job already
# running in the worker passes :func:`direct` so it does not send another.
Device = Callable[[str, dict[str, Any]], dict[str, Any]]


def via_worker(op: str, params: dict[str, Any]) -> dict[str, Any]:
    return jobs.submit("wallbox.device", {"op": op, **params}, wait_s=SETUP_DEADLINE_S, target=op)


def device_params(line: str, address: int, **extra: Any) -> dict[str, Any]:
    return {"serial": jobs.serial_params(serial_config(line)), "address": address, **extra}


def where(line: str, address: int) -> str:
    return f"RS485 {line_name(line)} address {address}"


def store_info(wallbox: Wallbox, info: Any) -> None:
    def text(*names: str) -> str:
        for name in names:
            value = info.get(name) if isinstance(info, dict) else getattr(info, name, None)
            if value not in (None, ""):
                return str(value)[:64]
        return ""

    wallbox.serial_number = text("serial", "serial_number")
    wallbox.hardware_version = text("hardware", "hardware_version")
    wallbox.firmware_version = text("firmware", "firmware_version", "software")
    wallbox.info_read_at = timezone.now()


def read_info(wallbox: Wallbox, device: Device | None = None) -> None:
    """Ask the box for serial number, hardware and firmware (kept on the row; saved by the caller)."""
    device = device or via_worker
    try:
        info = device("read_info", device_params(wallbox.line, wallbox.bus_address))
    except jobs.DeviceJobError as error:
        raise SetupError(
            _("No answer from %(where)s: %(error)s")
            % {"where": where(wallbox.line, wallbox.bus_address), "error": error}
        ) from error
    store_info(wallbox, info)


def set_up(wallbox: Wallbox, device: Device | None = None) -> str:
    """Move a new box from 50 to its address (WB-2); the row is prepared, not saved.

    * moved: set up, info read;
    * a vehicle is plugged in: setup pending (the box stays at 50 and is controlled there; the
      move is retried when the cycle sees it unplugged, or from the list page);
    * nothing at 50 but a box at its address already (a factory reset of this manager): adopted;
    * nothing answers: :class:`SetupError`, nothing is saved.

    The move runs as a job in the worker (through the line's owner). Returns a message for people.
    """
    device = device or via_worker
    target = next_address(wallbox.line, wallbox.pk)
    if target is None:
        raise SetupError(
            {"interface": [_("RS485 %(i)s has no free wallbox address left.") % {"i": line_name(wallbox.line)}]}
        )
    try:
        info = device("move_address", device_params(wallbox.line, energy.WALLBOX_FACTORY_ADDRESS, to_address=target))
    except jobs.DeviceJobError as error:
        if error.plugged:
            wallbox.address = target
            wallbox.setup = Wallbox.Setup.PENDING
            wallbox.setup_message = _(
                "A vehicle is plugged in: the box keeps address 50 until it is unplugged, then it is moved "
                "to %(address)d."
            ) % {"address": target}
            return wallbox.setup_message
        if error.unsupported:
            return _keep_at_factory_address(wallbox, device)
        return _adopt(wallbox, target, error, device)
    wallbox.address = target
    wallbox.setup = Wallbox.Setup.DONE
    wallbox.setup_message = ""
    store_info(wallbox, info)
    return _("%(name)s has been set up at %(where)s.") % {
        "name": wallbox.name,
        "where": where(wallbox.line, target),
    }


def _keep_at_factory_address(wallbox: Wallbox, device: Device) -> str:
    """A real box answers at 50 but has no published address register: it is used at 50, as the
    only such box on its line (part 8 of issue 13: the move works with the simulated box only)."""
    factory = energy.WALLBOX_FACTORY_ADDRESS
    if factory in used_addresses(wallbox.line, wallbox.pk):
        raise SetupError(
            _("The box on RS485 %(interface)s answers at address 50 but cannot be moved to another address over "
              "Modbus, and another box already uses 50 on this line. Connect it to the other RS485 interface, or "
              "have its address set with the vendor's service tools and add it at that address.")
            % {"interface": line_name(wallbox.line)}
        )  # fmt: skip
    info = device("read_info", device_params(wallbox.line, factory))
    wallbox.address = factory
    wallbox.setup = Wallbox.Setup.DONE
    store_info(wallbox, info)
    wallbox.setup_message = _(
        "This box has no published register for its Modbus address, so it stays at address 50 (moving it to "
        "100 works with the simulated ENECTOR only). It is controlled at 50; a second box of this kind needs "
        "the other RS485 interface, or an address set with the vendor's service tools."
    )
    return _("%(name)s has been set up at %(where)s. %(note)s") % {
        "name": wallbox.name,
        "where": where(wallbox.line, factory),
        "note": wallbox.setup_message,
    }


def _adopt(wallbox: Wallbox, target: int, move_error: Exception, device: Device) -> str:
    """No box at 50: after a factory reset of the manager the box still answers at its old address."""
    candidates = [target] + ([energy.WALLBOX_ADDRESS] if target != energy.WALLBOX_ADDRESS else [])
    for address in candidates:
        if address != target and address in used_addresses(wallbox.line, wallbox.pk):
            continue
        try:
            info = device("read_info", device_params(wallbox.line, address))
        except jobs.DeviceJobError:
            continue
        wallbox.address = address
        wallbox.setup = Wallbox.Setup.DONE
        wallbox.setup_message = ""
        store_info(wallbox, info)
        return _("%(name)s already answered at %(where)s (set up before) and has been added.") % {
            "name": wallbox.name,
            "where": where(wallbox.line, address),
        }
    raise SetupError(
        _("No ENECTOR answered on RS485 %(interface)s at address 50 (new box) or %(address)d (set up before): "
          "%(error)s. Check the cable, the interface and that the box is switched on.")
        % {"interface": line_name(wallbox.line), "address": target, "error": move_error or _("timed out")}
    )  # fmt: skip


def retry_setup(wallbox: Wallbox, device: Device | None = None) -> str:
    """Try the deferred address move of a pending box again; saves the outcome."""
    if not wallbox.is_pending:
        return _("%(name)s is already set up.") % {"name": wallbox.name}
    device = device or via_worker
    wallbox.setup = Wallbox.Setup.DONE  # so the move picks the promised address again
    target = wallbox.address
    try:
        info = device("move_address", device_params(wallbox.line, energy.WALLBOX_FACTORY_ADDRESS, to_address=target))
    except jobs.DeviceJobError as error:
        wallbox.setup = Wallbox.Setup.PENDING
        if error.plugged:
            message = _("A vehicle is still plugged in: the box is moved to %(address)d once it is unplugged.") % {
                "address": target
            }
        else:
            message = _("The box did not answer at address 50: %(error)s") % {"error": error}
        wallbox.setup_message = message[:300]
        Wallbox.objects.filter(pk=wallbox.pk).update(setup=wallbox.setup, setup_message=wallbox.setup_message)
        return message
    wallbox.setup_message = ""
    store_info(wallbox, info)
    wallbox.save()
    return _("%(name)s has been moved to %(where)s.") % {
        "name": wallbox.name,
        "where": where(wallbox.line, target),
    }


def remove(wallbox: Wallbox, device: Device | None = None) -> str:
    """Delete a box, writing address 50 back first (WB-2). A box that does not answer is deleted
    anyway; the message says so (it then still answers at its old address)."""
    device = device or via_worker
    message = _("%(name)s has been deleted; it answers at address 50 again.") % {"name": wallbox.name}
    if not wallbox.is_pending:
        try:
            device("restore_factory_address", device_params(wallbox.line, wallbox.address))
        except jobs.DeviceJobError as error:
            message = _(
                "%(name)s has been deleted, but it did not answer (%(error)s): it still has address %(address)d. "
                "Enter %(address)d if you set it up again."
            ) % {"name": wallbox.name, "error": error, "address": wallbox.address}
    wallbox.delete()
    return message
