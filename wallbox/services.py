"""What the pages, the admin, the API and the cycle use of the wallbox app.

* the option gate (WB-1): :func:`option_active`, backed by the plant's one check;
* the rules that span rows (addresses on a line, single-phase types), raised as Django
  ``ValidationError`` naming the field, so forms and the API report the same messages;
* setup on the RS485 line (WB-2): the 50 -> 100 address move, deferred while a vehicle is
  plugged in; 50 written back on delete; a box found at 100 after a factory reset is adopted;
* the immutable settings the cycle gets (:func:`wallbox_configs`, :func:`mains_config`);
* firmware updates with progress (WB-13);
* the records the cycle leaves: charging sessions and the phase-switching log (WB-12),
  through :func:`record_cycle` and its pure helpers.

This is the only module of the app that talks to the ENECTOR driver, and it imports it only
when a device has to be asked (pages and the API never load pymodbus).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import redisconn
from energy import config as energy
from energy.config import MainsConfig, SerialConfig, SolarPlusSettings, WallboxConfig
from energy.devices import DeviceError
from energy.state import WALLBOX_CHARGING, PlantState, WallboxState
from wallbox import jobs
from wallbox.models import (
    ChargingSession,
    MainsSettings,
    PhaseSwitchEvent,
    TimeModeSchedule,
    Wallbox,
    default_time_mode,
    validate_time_mode,
)

log = logging.getLogger(__name__)

OPTION = "wallbox"
# The ENECTOR's RS485 line: 57600 baud, 8 data bits, no parity, 2 stop bits.
ENECTOR_LINE: dict[str, Any] = {"baudrate": 57600, "bytesize": 8, "parity": "N", "stopbits": 2}
DEFAULT_RS485_PORTS = {"A": "/dev/ttyUSB0", "B": "/dev/ttyUSB1"}
# Boxes on one line get 100, 101, ... (WB-2).
MAX_BOXES_PER_LINE = 16
# A setup call to the box may take a few Modbus round trips.
SETUP_DEADLINE_S = 10.0
FIRMWARE_MAX_BYTES = 8 * 1024 * 1024  # what the box's update block takes
FIRMWARE_DEADLINE_S = jobs.FIRMWARE_DEADLINE_S
PROGRESS_TTL_S = 3600
REDIS_TIMEOUT_S = 0.5
# A pending setup is retried at most this often from the cycle's bookkeeping.
SETUP_RETRY_S = 30.0
# Longer gaps between two cycles are not counted as charging (the worker was down).
MAX_GAP_S = 10.0
# Accumulated energy is written to the open session at least this often.
SESSION_FLUSH_S = 60.0


class SetupError(ValidationError):
    """The box could not be set up (or reached); the message says which and why."""


# --- option gate (WB-1) --------------------------------------------------------------------------


def option_active(plant: Any) -> bool:
    """The wallbox menu, pages and API exist only while the plant has the wallbox option."""
    return plant is not None and bool(plant.is_option_active(OPTION))


def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (the device apps sit below ``plant``)."""
    model = Wallbox._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


# --- redis ---------------------------------------------------------------------------------------


def firmware_key(wallbox_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:wallbox:firmware:{wallbox_id}"


# --- settings the cycle gets -----------------------------------------------------------------------


def rs485_ports() -> dict[str, str]:
    """Which serial line each RS485 interface is: a device path or ``socket://host:port`` (RTU over TCP).

    ``KSEM_RS485_A``/``KSEM_RS485_B`` (the Modbus settings' defaults) and ``KSEM_RS485_PORTS``
    override the built-in ``/dev/ttyUSB0``/``/dev/ttyUSB1``.
    """
    ports = dict(DEFAULT_RS485_PORTS)
    for name, setting_name in (("A", "RS485_A_DEVICE"), ("B", "RS485_B_DEVICE")):
        value = getattr(settings, setting_name, "")
        if value:
            ports[name] = str(value)
    return {**ports, **getattr(settings, "KSEM_RS485_PORTS", {})}


def serial_config(interface: str) -> SerialConfig:
    return SerialConfig(port=rs485_ports().get(interface, ""), **ENECTOR_LINE)


def time_mode_of(wallbox: Wallbox) -> list[list[str]]:
    schedule = TimeModeSchedule.objects.filter(wallbox=wallbox).first() if wallbox.pk else None
    return schedule.days if schedule is not None else default_time_mode()


def wallbox_config(wallbox: Wallbox, days: list[list[str]] | None = None) -> WallboxConfig:
    days = days if days is not None else time_mode_of(wallbox)
    return WallboxConfig(
        name=wallbox.name,
        type=wallbox.type,
        serial=serial_config(wallbox.interface),
        address=wallbox.bus_address,
        rotation=wallbox.rotation,
        phase_usage=wallbox.phase_usage,
        mode=wallbox.mode,
        battery_use=wallbox.battery_use,
        min_current_a=float(wallbox.min_current_a),
        solar_plus=SolarPlusSettings(
            start_power=wallbox.solar_plus_start, min_solar_share_pct=float(wallbox.solar_plus_min_share_pct)
        ),
        time_mode=tuple(tuple(day) for day in days),
        manual_pause=wallbox.manual_pause,
    )


def wallbox_configs(plant: Any) -> tuple[WallboxConfig, ...]:
    """The plant's boxes for the cycle; none while the wallbox option is off (WB-1)."""
    if not option_active(plant):
        return ()
    boxes = Wallbox.objects.filter(plant=plant).select_related("time_mode").order_by("position", "pk")
    configs = []
    for box in boxes:
        schedule = getattr(box, "time_mode", None)  # a missing reverse one-to-one raises AttributeError
        configs.append(wallbox_config(box, schedule.days if schedule is not None else default_time_mode()))
    return tuple(configs)


def mains_settings_of(plant: Any) -> MainsSettings:
    """The plant's mains connection (defaults, unsaved, until someone saves them)."""
    found = MainsSettings.objects.filter(plant=plant).first() if plant.pk else None
    return found or MainsSettings(plant=plant)


def mains_config(plant: Any) -> MainsConfig:
    """The controller guards one fuse rating: the smallest of the phases in use (the safe side)."""
    mains = mains_settings_of(plant)
    return MainsConfig(
        phases=int(mains.phases),
        fuse_a=float(mains.smallest_fuse_a),
        unbalance_limit_va=float(mains.unbalance_limit_va),
    )


# --- rules -----------------------------------------------------------------------------------------


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def used_addresses(interface: str, exclude_pk: int | None = None) -> set[int]:
    """Addresses on a line taken by set-up boxes and promised to pending ones."""
    boxes = Wallbox.objects.filter(interface=interface)
    if exclude_pk is not None:
        boxes = boxes.exclude(pk=exclude_pk)
    return set(boxes.values_list("address", flat=True))


def next_address(interface: str, exclude_pk: int | None = None) -> int | None:
    used = used_addresses(interface, exclude_pk)
    for address in range(energy.WALLBOX_ADDRESS, energy.WALLBOX_ADDRESS + MAX_BOXES_PER_LINE):
        if address not in used:
            return address
    return None


def check_wallbox(wallbox: Wallbox) -> None:
    """Refuse a box that breaks a rule, naming the field (``__all__`` for line-wide rules)."""
    errors: dict[str, list[str]] = {}
    others = Wallbox.objects.filter(plant=wallbox.plant).exclude(pk=wallbox.pk) if wallbox.plant.pk else None
    if others is not None and others.filter(name=wallbox.name).exists():
        _add(errors, "name", _("This plant already has a wallbox named %(name)s.") % {"name": wallbox.name})
    if wallbox.type not in energy.WALLBOX_TYPES:
        _add(errors, "type", _("%(type)s is not a wallbox type this manager knows.") % {"type": wallbox.type})
    elif wallbox.max_phases == 1 and wallbox.phase_usage != Wallbox.PhaseUsage.SINGLE:
        _add(
            errors,
            "phase_usage",
            _("A %(type)s charges on one phase only: choose single-phase.")
            % {"type": Wallbox.Type(wallbox.type).label},
        )
    if wallbox.interface not in Wallbox.Interface.values:
        _add(errors, "interface", _("Choose RS485 A or RS485 B."))
    else:
        line = Wallbox.objects.filter(interface=wallbox.interface).exclude(pk=wallbox.pk)
        moved = wallbox.pk is not None and _stored(wallbox, "interface") != wallbox.interface
        if moved and line.filter(address=wallbox.address).exists():
            _add(
                errors,
                "interface",
                _("Address %(address)d on RS485 %(interface)s is already used by another wallbox.")
                % {"address": wallbox.address, "interface": wallbox.interface},
            )
        elif not wallbox.pk:
            if line.filter(setup=Wallbox.Setup.PENDING).exists():
                _add(
                    errors,
                    "interface",
                    _("Another new wallbox on RS485 %(interface)s still waits for its setup at address 50; "
                      "add this one once that is done, so only one box answers at 50.")
                    % {"interface": wallbox.interface},
                )  # fmt: skip
            elif next_address(wallbox.interface, wallbox.pk) is None:
                _add(
                    errors,
                    "interface",
                    _("RS485 %(interface)s has no free wallbox address left.") % {"interface": wallbox.interface},
                )
    if not energy.ROTATIONS.get(wallbox.rotation):
        _add(errors, "rotation", _("Choose one of the phase rotations L1/L2/L3, L2/L3/L1, L3/L1/L2."))
    if errors:
        raise ValidationError(errors)


def _stored(wallbox: Wallbox, name: str) -> Any:
    return Wallbox.objects.filter(pk=wallbox.pk).values_list(name, flat=True).first() if wallbox.pk else None


def check_mains(mains: MainsSettings) -> None:
    errors: dict[str, list[str]] = {}
    if mains.phases not in (1, 3):
        _add(errors, "phases", _("A mains connection has 1 or 3 phases."))
    if errors:
        raise ValidationError(errors)


def parse_time_mode(text: str) -> list[list[str]]:
    """The editor's grid (seven ``;``-separated weekdays of 24 ``,``-separated modes) as Time Mode days."""
    days = [day.split(",") for day in (text or "").strip().split(";")]
    try:
        validate_time_mode(days)
    except ValidationError as error:
        raise ValidationError({"days": error.messages}) from error
    return days


def format_time_mode(days: list[list[str]]) -> str:
    return ";".join(",".join(day) for day in days)


def save_time_mode(wallbox: Wallbox, days: list[list[str]]) -> None:
    try:
        validate_time_mode(days)
    except ValidationError as error:
        raise ValidationError({"days": error.messages}) from error
    TimeModeSchedule.objects.update_or_create(wallbox=wallbox, defaults={"days": days})


def set_manual_pause(wallbox: Wallbox, paused: bool) -> None:
    """Pause or restart charging by hand (WB-3); the controller keeps a paused box paused."""
    wallbox.manual_pause = paused
    # save(), not a queryset update: the save announces the change to the next cycle.
    wallbox.save(update_fields=["manual_pause"])


def next_position(plant: Any) -> int:
    last = Wallbox.objects.filter(plant=plant).aggregate(models.Max("position"))["position__max"]
    return 0 if last is None else last + 1


# --- talking to the box: device jobs in the worker (wallbox.jobs), the driver loaded only there -------

# How a service reaches the box: ``device(op, params) -> info dict``, raising DeviceJobError.
# Pages and the API send a job to the worker and wait for it (:func:`_via_worker`); a job already
# running in the worker passes :func:`direct` so it does not send another.
Device = Callable[[str, dict[str, Any]], dict[str, Any]]


def _driver() -> Any:
    from wallbox.drivers import enector  # loads pymodbus: only in the worker, when a box has to be asked

    return enector


def _via_worker(op: str, params: dict[str, Any]) -> dict[str, Any]:
    return jobs.submit("wallbox.device", {"op": op, **params}, wait_s=SETUP_DEADLINE_S, target=op)


def direct(run: jobs.Runner) -> Device:
    """Device access for code that already runs in the worker (a job): through ``run``."""
    return lambda op, params: perform(op, params, run)


def perform(
    op: str, params: dict[str, Any], run: jobs.Runner, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """One device operation in the worker's device loop, through the line's owner."""
    enector = _driver()
    serial = SerialConfig(**params["serial"])
    address = int(params.get("address", energy.WALLBOX_FACTORY_ADDRESS))
    try:
        if op == "read_info":
            info = run(enector.read_info(serial, address), jobs.DEVICE_DEADLINE_S)
        elif op == "move_address":
            move = enector.move_address(
                serial, address, int(params["to_address"]), allow_plugged=bool(params.get("allow_plugged"))
            )
            info = run(move, jobs.DEVICE_DEADLINE_S)
        elif op == "restore_factory_address":
            info = run(enector.restore_factory_address(serial, address), jobs.DEVICE_DEADLINE_S)
        elif op == "update_firmware":
            update = enector.update_firmware(serial, address, params["data"], progress)
            info = run(update, FIRMWARE_DEADLINE_S)
        else:
            raise jobs.DeviceJobError(f"unknown device operation {op!r}")
    except enector.VehiclePluggedIn as error:
        raise jobs.DeviceJobError(str(error), plugged=True) from None
    except enector.NoVendorBlock as error:
        raise jobs.DeviceJobError(str(error), unsupported=True) from None
    except (DeviceError, TimeoutError, OSError) as error:
        raise jobs.DeviceJobError(str(error) or _("no answer in time")) from None
    result: dict[str, Any] = dataclasses.asdict(info)
    return result


def device_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The worker's side of :func:`_via_worker`."""
    return perform(str(params["op"]), params, run)


def _params(interface: str, address: int, **extra: Any) -> dict[str, Any]:
    return {"serial": jobs.serial_params(serial_config(interface)), "address": address, **extra}


def _where(interface: str, address: int) -> str:
    return f"RS485 {interface} address {address}"


def _store_info(wallbox: Wallbox, info: Any) -> None:
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
    device = device or _via_worker
    try:
        info = device("read_info", _params(wallbox.interface, wallbox.bus_address))
    except jobs.DeviceJobError as error:
        raise SetupError(
            _("No answer from %(where)s: %(error)s")
            % {"where": _where(wallbox.interface, wallbox.bus_address), "error": error}
        ) from error
    _store_info(wallbox, info)


def set_up(wallbox: Wallbox, device: Device | None = None) -> str:
    """Move a new box from 50 to its address (WB-2); the row is prepared, not saved.

    * moved: set up, info read;
    * a vehicle is plugged in: setup pending (the box stays at 50 and is controlled there; the
      move is retried when the cycle sees it unplugged, or from the list page);
    * nothing at 50 but a box at its address already (a factory reset of this manager): adopted;
    * nothing answers: :class:`SetupError`, nothing is saved.

    The move runs as a job in the worker (through the line's owner). Returns a message for people.
    """
    device = device or _via_worker
    target = next_address(wallbox.interface, wallbox.pk)
    if target is None:
        raise SetupError({"interface": [_("RS485 %(i)s has no free wallbox address left.") % {"i": wallbox.interface}]})
    try:
        info = device("move_address", _params(wallbox.interface, energy.WALLBOX_FACTORY_ADDRESS, to_address=target))
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
    _store_info(wallbox, info)
    return _("%(name)s has been set up at %(where)s.") % {
        "name": wallbox.name,
        "where": _where(wallbox.interface, target),
    }


def _keep_at_factory_address(wallbox: Wallbox, device: Device) -> str:
    """A real box answers at 50 but has no published address register: it is used at 50, as the
    only such box on its line (part 8 of issue 13: the move works with the simulated box only)."""
    factory = energy.WALLBOX_FACTORY_ADDRESS
    if factory in used_addresses(wallbox.interface, wallbox.pk):
        raise SetupError(
            _("The box on RS485 %(interface)s answers at address 50 but cannot be moved to another address over "
              "Modbus, and another box already uses 50 on this line. Connect it to the other RS485 interface, or "
              "have its address set with the vendor's service tools and add it at that address.")
            % {"interface": wallbox.interface}
        )  # fmt: skip
    info = device("read_info", _params(wallbox.interface, factory))
    wallbox.address = factory
    wallbox.setup = Wallbox.Setup.DONE
    _store_info(wallbox, info)
    wallbox.setup_message = _(
        "This box has no published register for its Modbus address, so it stays at address 50 (moving it to "
        "100 works with the simulated ENECTOR only). It is controlled at 50; a second box of this kind needs "
        "the other RS485 interface, or an address set with the vendor's service tools."
    )
    return _("%(name)s has been set up at %(where)s. %(note)s") % {
        "name": wallbox.name,
        "where": _where(wallbox.interface, factory),
        "note": wallbox.setup_message,
    }


def firmware_supported(wallbox: Wallbox) -> bool | None:
    """Whether the box takes a firmware upload over Modbus: a box whose info was read without the
    vendor block (no hardware version) does not; ``None`` until its info has been read."""
    if wallbox.info_read_at is None:
        return None
    return wallbox.firmware_over_modbus


# What the page, the API and the docs say about the two functions of the vendor block (issue 13.8).
SIMULATED_ONLY_NOTE = gettext_lazy(
    "The firmware upload and the 50 -> 100 address move use a register block this project defines; the "
    "published ENECTOR/AMTRON Modbus map has neither. They work with the simulated ENECTOR only. A real "
    "box stays at the address it answers (50 from the factory) and gets its firmware through the vendor's "
    "service (KOSTAL/MENNEKES); nothing is sent to a box that does not have the block."
)


def _adopt(wallbox: Wallbox, target: int, move_error: Exception, device: Device) -> str:
    """No box at 50: after a factory reset of the manager the box still answers at its old address."""
    candidates = [target] + ([energy.WALLBOX_ADDRESS] if target != energy.WALLBOX_ADDRESS else [])
    for address in candidates:
        if address != target and address in used_addresses(wallbox.interface, wallbox.pk):
            continue
        try:
            info = device("read_info", _params(wallbox.interface, address))
        except jobs.DeviceJobError:
            continue
        wallbox.address = address
        wallbox.setup = Wallbox.Setup.DONE
        wallbox.setup_message = ""
        _store_info(wallbox, info)
        return _("%(name)s already answered at %(where)s (set up before) and has been added.") % {
            "name": wallbox.name,
            "where": _where(wallbox.interface, address),
        }
    raise SetupError(
        _("No ENECTOR answered on RS485 %(interface)s at address 50 (new box) or %(address)d (set up before): "
          "%(error)s. Check the cable, the interface and that the box is switched on.")
        % {"interface": wallbox.interface, "address": target, "error": move_error or _("timed out")}
    )  # fmt: skip


def retry_setup(wallbox: Wallbox, device: Device | None = None) -> str:
    """Try the deferred address move of a pending box again; saves the outcome."""
    if not wallbox.is_pending:
        return _("%(name)s is already set up.") % {"name": wallbox.name}
    device = device or _via_worker
    wallbox.setup = Wallbox.Setup.DONE  # so the move picks the promised address again
    target = wallbox.address
    try:
        info = device("move_address", _params(wallbox.interface, energy.WALLBOX_FACTORY_ADDRESS, to_address=target))
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
    _store_info(wallbox, info)
    wallbox.save()
    return _("%(name)s has been moved to %(where)s.") % {
        "name": wallbox.name,
        "where": _where(wallbox.interface, target),
    }


def retry_setup_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The cycle's automatic retry of a pending setup, as a job in the worker."""
    box = Wallbox.objects.filter(pk=int(params["wallbox_id"])).first()
    if box is None:
        return {"message": "deleted"}
    message = retry_setup(box, direct(run))
    log.info("wallbox %s: %s", box.name, message)
    return {"message": message, "pending": box.is_pending}


def remove(wallbox: Wallbox, device: Device | None = None) -> str:
    """Delete a box, writing address 50 back first (WB-2). A box that does not answer is deleted
    anyway; the message says so (it then still answers at its old address)."""
    device = device or _via_worker
    message = _("%(name)s has been deleted; it answers at address 50 again.") % {"name": wallbox.name}
    if not wallbox.is_pending:
        try:
            device("restore_factory_address", _params(wallbox.interface, wallbox.address))
        except jobs.DeviceJobError as error:
            message = _(
                "%(name)s has been deleted, but it did not answer (%(error)s): it still has address %(address)d. "
                "Enter %(address)d if you set it up again."
            ) % {"name": wallbox.name, "error": error, "address": wallbox.address}
    wallbox.delete()
    return message


# --- firmware (WB-13) --------------------------------------------------------------------------------


def check_firmware(data: bytes) -> None:
    if not data:
        raise ValidationError({"firmware": [_("The file is empty.")]})
    if len(data) > FIRMWARE_MAX_BYTES:
        raise ValidationError(
            {"firmware": [_("The file is larger than %(max)d MB; that is no ENECTOR firmware.") % {"max": 8}]}
        )


def firmware_image_key(wallbox_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:wallbox:firmware-image:{wallbox_id}"


def firmware_progress(wallbox_id: int) -> dict[str, Any]:
    """``{"state": idle|queued|running|done|failed, "progress_pct": 0-100, "message": ...}``."""
    raw = redisconn.sync_redis(REDIS_TIMEOUT_S).get(firmware_key(wallbox_id))
    if not raw:
        return {"state": "idle", "progress_pct": 0.0, "message": ""}
    data: dict[str, Any] = json.loads(raw)
    return data


def _set_progress(wallbox_id: int, state: str, progress_pct: float, message: str = "") -> None:
    value = {"state": state, "progress_pct": round(max(0.0, min(100.0, progress_pct)), 1), "message": message}
    redisconn.sync_redis(REDIS_TIMEOUT_S).set(firmware_key(wallbox_id), json.dumps(value), ex=PROGRESS_TTL_S)


def start_firmware_update(wallbox: Wallbox, data: bytes) -> dict[str, Any]:
    """Validate the file and hand it to the worker, which transfers it to the box; progress goes
    to Redis (:func:`firmware_progress`). Returns the progress as it stands.

    Refused while an update of the same box is queued or runs. The worker writes the image
    through the line's owner (between the cycle's transactions), the box restarts, then its
    firmware version is read again.
    """
    check_firmware(data)
    if firmware_supported(wallbox) is False:
        raise ValidationError(
            {"firmware": [_("%(name)s has no firmware update over Modbus. %(note)s")
                          % {"name": wallbox.name, "note": SIMULATED_ONLY_NOTE}]}
        )  # fmt: skip
    if wallbox.is_pending:
        raise ValidationError({"firmware": [_("Finish the setup of %(name)s first.") % {"name": wallbox.name}]})
    if firmware_progress(wallbox.pk)["state"] in ("queued", "running"):
        raise ValidationError({"firmware": [_("A firmware update of %(name)s is running.") % {"name": wallbox.name}]})
    redisconn.sync_redis(REDIS_TIMEOUT_S).set(firmware_image_key(wallbox.pk), data, ex=PROGRESS_TTL_S)
    _set_progress(wallbox.pk, "queued", 0.0, _("Waiting for the worker"))
    jobs.submit("wallbox.firmware", {"wallbox_id": wallbox.pk}, target=f"wallbox {wallbox.pk}")
    return firmware_progress(wallbox.pk)


def firmware_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The firmware upload in the worker: the image from Redis to the box, progress to Redis."""
    wallbox_id = int(params["wallbox_id"])
    try:
        data = redisconn.sync_redis(REDIS_TIMEOUT_S).get(firmware_image_key(wallbox_id))
        redisconn.sync_redis(REDIS_TIMEOUT_S).delete(firmware_image_key(wallbox_id))
        wallbox = Wallbox.objects.filter(pk=wallbox_id).first()
        if wallbox is None:
            raise jobs.DeviceJobError(_("The wallbox has been deleted."))
        if not data:
            raise jobs.DeviceJobError(_("The uploaded file expired before the worker took it; upload it again."))
        _set_progress(wallbox_id, "running", 0.0, _("Transferring"))

        def report(fraction: float) -> None:
            _set_progress(wallbox_id, "running", 100.0 * float(fraction), _("Transferring"))
            progress(fraction, "transferring")

        info = perform("update_firmware", {**_params(wallbox.interface, wallbox.address), "data": data}, run, report)
    except Exception as error:
        log.warning("firmware update of wallbox %s failed: %s", wallbox_id, error)
        _set_progress(wallbox_id, "failed", 0.0, _("The update failed: %(error)s") % {"error": error or "timeout"})
        raise
    _store_info(wallbox, info)
    Wallbox.objects.filter(pk=wallbox_id).update(
        firmware_version=wallbox.firmware_version,
        hardware_version=wallbox.hardware_version,
        serial_number=wallbox.serial_number,
        info_read_at=wallbox.info_read_at,
    )
    _set_progress(
        wallbox_id,
        "done",
        100.0,
        _("Updated and restarted; firmware %(version)s.") % {"version": wallbox.firmware_version or "?"},
    )
    return {"firmware": wallbox.firmware_version}


# --- live status -------------------------------------------------------------------------------------


def live_state(state: PlantState | None, name: str) -> WallboxState | None:
    for box in state.wallboxes if state else ():
        if box.name == name:
            return box
    return None


# What the Modbus register modes are called (MB-2), by the product's mode they act as.
MODBUS_MODE_NAMES = {energy.LOCK: "lock", energy.POWER: "grid", energy.SOLAR_PURE: "pv", energy.SOLAR_PLUS: "hybrid"}


def modbus_command(state: PlantState | None, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The last wallbox command of a Modbus client (MB-2) as the last cycle took it: the mode it
    sets (the product's mode and the register's name; None = the boxes' own), the current
    limit, when it was written, its age, when it lapses and whether it is in force; None if no
    client has written one."""
    command = state.wallbox_command if state is not None else None
    if command is None:
        return None
    now = now or timezone.now()
    return {
        "mode": command.mode,
        "register_mode": MODBUS_MODE_NAMES.get(command.mode or "", "released"),
        "current_limit_a": command.current_limit_a,
        "written_at": command.at.isoformat(),
        "age_s": round(max(0.0, (now - command.at).total_seconds()), 1),
        "expires_at": command.expires_at.isoformat(),
        "expires_in_s": round(max(0.0, (command.expires_at - now).total_seconds()), 1),
        "in_force": command.in_force(state.timestamp) if state is not None else False,
        "timeout_s": energy.WALLBOX_COMMAND_TIMEOUT_S,
    }


def live_status(state: PlantState | None, name: str) -> dict[str, str]:
    box = live_state(state, name)
    if box is None:
        return {"status": "unknown", "error": ""}
    if not box.status.online:
        return {"status": "error", "error": box.status.error}
    return {"status": "ok", "error": ""}


def phase_load(state: PlantState | None, mains: MainsConfig) -> dict[str, Any]:
    """Phase load at the grid point against the fuse and the unbalance caused by charging (WB-11).

    Charging power of all boxes, and the quota: what the fuses allow in total.
    """
    grid_a: list[float | None] = [None, None, None]
    if state is not None and state.meter is not None:
        grid_a = [phase.current_a for phase in state.meter.phases]
    charging_a = [0.0, 0.0, 0.0]
    charging_w = 0.0
    for box in state.wallboxes if state else ():
        for index, current in enumerate(box.phase_currents_a):
            charging_a[index] += current
        charging_w += box.power_w or 0.0
    used = charging_a[: mains.phases]
    unbalance_va = (max(used) - min(used)) * energy.NOMINAL_VOLTAGE_V if mains.phases > 1 else 0.0
    return {
        "phases": mains.phases,
        "fuse_a": mains.fuse_a,
        "grid_a": grid_a[: mains.phases],
        "charging_a": [round(value, 2) for value in used],
        "charging_w": charging_w,
        "quota_w": mains.fuse_a * energy.NOMINAL_VOLTAGE_V * mains.phases,
        "unbalance_va": round(unbalance_va, 1),
        "unbalance_limit_va": mains.unbalance_limit_va,
        "over_fuse": [value is not None and value > mains.fuse_a for value in grid_a[: mains.phases]],
    }


def mode_in_force(wallbox: Wallbox, now: dt.datetime, time_zone: str) -> str:
    """The mode that applies at ``now``: Time Mode resolved to the hour's mode in the plant's time."""
    if wallbox.mode != Wallbox.Mode.TIME_MODE:
        return str(wallbox.mode)
    local = now.astimezone(zoneinfo.ZoneInfo(time_zone))
    return time_mode_of(wallbox)[local.weekday()][local.hour]


# --- records of the cycle: sessions and phase switches (WB-12) ------------------------------------------


@dataclass(frozen=True, slots=True)
class BoxStep:
    """What one cycle of one box means for the records."""

    start_session: bool = False
    end_session: bool = False
    energy_wh: float = 0.0
    solar_wh: float = 0.0
    charging_s: float = 0.0
    switched_to_phases: int | None = None


def solar_fraction(state: PlantState) -> float:
    """Share of the charging power that came from PV right now (0-1).

    The vehicles count as the last consumer: grid purchase is charged to them first, so
    ``(charging power - purchase) / charging power``, clamped. Without a grid value: 0.
    """
    charging_w = sum(max(0.0, box.power_w or 0.0) for box in state.wallboxes)
    grid_w = state.flow.grid_power_w
    if charging_w <= 0 or grid_w is None:
        return 0.0
    return max(0.0, min(1.0, (charging_w - max(0.0, grid_w)) / charging_w))


def box_step(
    previous: WallboxState | None, current: WallboxState, elapsed_s: float, fraction: float, session_open: bool
) -> BoxStep:
    """Pure: from two consecutive states of a box, whether a session starts or ends, the energy of
    this cycle (the box's session counter where it has one, else power * time) and a phase switch.

    An offline box changes nothing: unknown is not "unplugged".
    """
    if not current.status.online:
        return BoxStep()
    start = current.vehicle_connected and not session_open
    end = session_open and not current.vehicle_connected
    energy_wh = 0.0
    charging_s = 0.0
    power_w = max(0.0, current.power_w or 0.0)
    elapsed_s = max(0.0, min(elapsed_s, MAX_GAP_S))
    if current.vehicle_connected and not start:
        energy_wh = power_w * elapsed_s / 3600.0
        if (
            previous is not None
            and previous.session_energy_wh is not None
            and current.session_energy_wh is not None
            and current.session_energy_wh >= previous.session_energy_wh
            and previous.vehicle_connected
        ):
            energy_wh = current.session_energy_wh - previous.session_energy_wh
        if current.state == WALLBOX_CHARGING or power_w > 0:
            charging_s = elapsed_s
    switched = None
    if (
        previous is not None
        and previous.status.online
        and previous.phases in (1, 3)
        and current.phases in (1, 3)
        and previous.phases != current.phases
    ):
        switched = current.phases
    return BoxStep(
        start_session=start,
        end_session=end,
        energy_wh=energy_wh,
        solar_wh=energy_wh * max(0.0, min(1.0, fraction)),
        charging_s=charging_s,
        switched_to_phases=switched,
    )


@dataclass
class _OpenSession:
    session_id: int
    energy_wh: float = 0.0
    solar_wh: float = 0.0
    charging_s: float = 0.0
    started: dt.datetime | None = None


@dataclass
class _Tracker:
    timestamp: dt.datetime | None = None
    previous: dict[str, WallboxState] = field(default_factory=dict)
    sessions: dict[str, _OpenSession | None] = field(default_factory=dict)
    last_flush: dt.datetime | None = None
    last_retry: dict[str, dt.datetime] = field(default_factory=dict)
    # When the rows of pending boxes were last looked up (a setup may be due), and what they were.
    pending_checked: dt.datetime | None = None
    pending: dict[str, int] = field(default_factory=dict)  # box name: row id


_trackers: dict[int, _Tracker] = {}
_trackers_lock = threading.Lock()


def _open_session(plant_id: int, name: str) -> _OpenSession | None:
    found = ChargingSession.objects.filter(plant_id=plant_id, wallbox_name=name, ended__isnull=True).first()
    if found is None:
        return None
    return _OpenSession(session_id=found.pk, started=found.started)


def _flush(session: _OpenSession, ended: dt.datetime | None = None) -> None:
    update: dict[str, Any] = {
        "energy_wh": models.F("energy_wh") + session.energy_wh,
        "solar_wh": models.F("solar_wh") + session.solar_wh,
        "charging_s": models.F("charging_s") + session.charging_s,
    }
    if ended is not None:
        update["ended"] = ended
    ChargingSession.objects.filter(pk=session.session_id).update(**update)
    session.energy_wh = session.solar_wh = session.charging_s = 0.0


def _has_energy(session: _OpenSession) -> bool:
    return session.energy_wh > 0.0 or session.charging_s > 0.0


def vehicle_text(session: _OpenSession | None, state: WallboxState, time_zone: str) -> str:
    """The vehicle as the log can name it: the one plugged in at the session's start, with its phases."""
    phases = sum(1 for current in state.phase_currents_a if current > 1.0)
    drawn = f", drawing on {phases} phase{'s' if phases != 1 else ''}" if phases else ""
    if session is not None and session.started is not None:
        local = session.started.astimezone(zoneinfo.ZoneInfo(time_zone))
        return f"plugged in {local:%Y-%m-%d %H:%M}{drawn}"
    return f"vehicle{drawn}" if state.vehicle_connected else "no vehicle"


def record_cycle(plant_id: int, state: PlantState) -> None:
    """Keep charging sessions and the phase-switching log from the cycle's snapshots.

    Called by the cycle after each snapshot (in the worker's thread, not the device loop). The
    database is touched only when something happened: a session starts or ends, a phase switch,
    the energy of an open session (written at most every minute and when it ends), and the look
    for pending setups (at most every :data:`SETUP_RETRY_S`). A steady cycle makes no query. A
    pending setup is retried, as a job, once its box reports no vehicle.
    """
    if not state.wallboxes:
        return
    with _trackers_lock:
        tracker = _trackers.setdefault(plant_id, _Tracker())
    elapsed_s = (state.timestamp - tracker.timestamp).total_seconds() if tracker.timestamp else 0.0
    fraction = solar_fraction(state)
    flush_due = tracker.last_flush is None or (state.timestamp - tracker.last_flush).total_seconds() >= SESSION_FLUSH_S
    steps: list[tuple[WallboxState, BoxStep]] = []
    for current in state.wallboxes:
        if current.name not in tracker.sessions:
            tracker.sessions[current.name] = _open_session(plant_id, current.name)  # once per box and worker
        session = tracker.sessions[current.name]
        previous = tracker.previous.get(current.name)
        steps.append((current, box_step(previous, current, elapsed_s, fraction, session is not None)))
        tracker.previous[current.name] = current
    events = any(step.start_session or step.end_session or step.switched_to_phases for _, step in steps)
    rows: dict[str, Wallbox] = {}
    time_zone = "UTC"
    if events:
        rows = {box.name: box for box in Wallbox.objects.filter(plant_id=plant_id)}
        plant = plant_model()._default_manager.filter(pk=plant_id).first()
        time_zone = str(getattr(plant, "time_zone", "UTC"))
    flushing = flush_due and any(session is not None and _has_energy(session) for session in tracker.sessions.values())
    if events or flushing:
        with transaction.atomic():
            for current, step in steps:
                _apply_step(plant_id, tracker, current, step, rows, time_zone, flush_due, state.timestamp)
    else:
        for current, step in steps:
            session = tracker.sessions[current.name]
            if session is not None:
                session.energy_wh += step.energy_wh
                session.solar_wh += step.solar_wh
                session.charging_s += step.charging_s
    if flush_due:
        tracker.last_flush = state.timestamp
    tracker.timestamp = state.timestamp
    _retry_pending(plant_id, tracker, state)


def _apply_step(
    plant_id: int,
    tracker: _Tracker,
    current: WallboxState,
    step: BoxStep,
    rows: dict[str, Wallbox],
    time_zone: str,
    flush_due: bool,
    at: dt.datetime,
) -> None:
    session = tracker.sessions[current.name]
    row = rows.get(current.name)
    if step.end_session and session is not None:
        _flush(session, ended=at)
        tracker.sessions[current.name] = session = None
    if step.start_session:
        started = at
        row = row or Wallbox.objects.filter(plant_id=plant_id, name=current.name).first()
        created = ChargingSession.objects.create(
            plant_id=plant_id, wallbox=row, wallbox_name=current.name, started=started
        )
        tracker.sessions[current.name] = session = _OpenSession(created.pk, started=started)
    if session is not None:
        session.energy_wh += step.energy_wh
        session.solar_wh += step.solar_wh
        session.charging_s += step.charging_s
        if flush_due and _has_energy(session):
            _flush(session)
    if step.switched_to_phases is not None:
        PhaseSwitchEvent.objects.create(
            plant_id=plant_id,
            wallbox=row,
            wallbox_name=current.name,
            time=at,
            vehicle=vehicle_text(session, current, time_zone)[:100],
            phases=step.switched_to_phases,
        )


def _retry_pending(plant_id: int, tracker: _Tracker, state: PlantState) -> None:
    """Send a setup retry (a job) for a pending box the cycle sees online without a vehicle."""
    candidates = [
        box
        for box in state.wallboxes
        if box.status.online
        and not box.vehicle_connected
        and (
            (last := tracker.last_retry.get(box.name)) is None
            or (state.timestamp - last).total_seconds() >= SETUP_RETRY_S
        )
    ]
    if not candidates:
        return
    checked = tracker.pending_checked
    if checked is None or (state.timestamp - checked).total_seconds() >= SETUP_RETRY_S:
        tracker.pending = dict(
            Wallbox.objects.filter(plant_id=plant_id, setup=Wallbox.Setup.PENDING).values_list("name", "pk")
        )
        tracker.pending_checked = state.timestamp
    for box in candidates:
        wallbox_id = tracker.pending.get(box.name)
        if wallbox_id is None:
            continue
        tracker.last_retry[box.name] = state.timestamp
        tracker.pending.pop(box.name)
        tracker.pending_checked = None  # look again at the next chance: the job may have finished
        try:
            # A job on the default queue: the move's transactions wait for their turn on the
            # line; the cycle does not wait for them.
            jobs.submit("wallbox.retry_setup", {"wallbox_id": wallbox_id}, target=f"wallbox {wallbox_id}")
        except Exception:  # a failed retry must never stop the cycle's bookkeeping
            log.warning("sending the setup retry of wallbox %s failed", box.name, exc_info=True)


def forget_plant(plant_id: int) -> None:
    """Drop the in-memory records of a plant (its runtime closed in this worker); flushes energy."""
    with _trackers_lock:
        tracker = _trackers.pop(plant_id, None)
    for session in tracker.sessions.values() if tracker else ():
        if session is not None:
            _flush(session)


def phase_log_text(plant: Any) -> str:
    """``phase_switching_log.txt`` (WB-12): one line per switch, tab-separated, in the plant's time."""
    zone = zoneinfo.ZoneInfo(str(plant.time_zone))
    lines = ["time\tvehicle\tcharging device\tphase usage selected"]
    for event in PhaseSwitchEvent.objects.filter(plant=plant).order_by("time", "pk"):
        local = event.time.astimezone(zone)
        lines.append(f"{local:%Y-%m-%d %H:%M:%S %Z}\t{event.vehicle or '-'}\t{event.wallbox_name}\t{event.usage_text}")
    return "\n".join(lines) + "\n"


def error_dict(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return dict(error.message_dict)
    return {NON_FIELD_ERRORS: list(error.messages)}
