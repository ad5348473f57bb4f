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

import asyncio
import concurrent.futures
import datetime as dt
import functools
import json
import logging
import threading
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from energy import config as energy
from energy.config import MainsConfig, SerialConfig, SolarPlusSettings, WallboxConfig
from energy.devices import DeviceError
from energy.state import WALLBOX_CHARGING, PlantState, WallboxState
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
FIRMWARE_DEADLINE_S = 30 * 60.0
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


@functools.cache
def sync_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


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


# --- talking to the box (the driver, imported only here and only when needed) ----------------------


def _driver() -> Any:
    from wallbox.drivers import enector  # loads pymodbus: only when a box has to be asked

    return enector


def _call(function: Callable[..., Any], *args: Any, deadline_s: float = SETUP_DEADLINE_S) -> Any:
    """Call a driver function, sync or async; an async one runs in a fresh loop with a deadline
    (in a helper thread when the caller already runs a loop)."""

    def run() -> Any:
        result = function(*args)
        if isinstance(result, Awaitable):

            async def bounded() -> Any:
                return await asyncio.wait_for(result, deadline_s)

            return asyncio.run(bounded())
        return result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def _is_vehicle_plugged(error: Exception) -> bool:
    """The driver refuses the address move while a vehicle is plugged in (it would drop the session)."""
    plugged: type[Exception] = _driver().VehiclePluggedIn
    return isinstance(error, plugged)


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


def read_info(wallbox: Wallbox) -> None:
    """Ask the box for serial number, hardware and firmware (kept on the row; saved by the caller)."""
    try:
        info = _call(_driver().read_info, serial_config(wallbox.interface), wallbox.bus_address)
    except (DeviceError, TimeoutError, OSError) as error:
        raise SetupError(
            _("No answer from %(where)s: %(error)s")
            % {"where": _where(wallbox.interface, wallbox.bus_address), "error": error or _("timed out")}
        ) from error
    _store_info(wallbox, info)


def set_up(wallbox: Wallbox) -> str:
    """Move a new box from 50 to its address (WB-2); the row is prepared, not saved.

    * moved: set up, info read;
    * a vehicle is plugged in: setup pending (the box stays at 50 and is controlled there; the
      move is retried when the cycle sees it unplugged, or from the list page);
    * nothing at 50 but a box at its address already (a factory reset of this manager): adopted;
    * nothing answers: :class:`SetupError`, nothing is saved.

    Returns a message for people.
    """
    target = next_address(wallbox.interface, wallbox.pk)
    if target is None:
        raise SetupError({"interface": [_("RS485 %(i)s has no free wallbox address left.") % {"i": wallbox.interface}]})
    serial = serial_config(wallbox.interface)
    driver = _driver()
    try:
        info = _call(driver.move_address, serial, energy.WALLBOX_FACTORY_ADDRESS, target)
    except (DeviceError, TimeoutError, OSError) as error:
        if _is_vehicle_plugged(error):
            wallbox.address = target
            wallbox.setup = Wallbox.Setup.PENDING
            wallbox.setup_message = _(
                "A vehicle is plugged in: the box keeps address 50 until it is unplugged, then it is moved "
                "to %(address)d."
            ) % {"address": target}
            return wallbox.setup_message
        return _adopt(wallbox, target, error)
    wallbox.address = target
    wallbox.setup = Wallbox.Setup.DONE
    wallbox.setup_message = ""
    _store_info(wallbox, info)
    return _("%(name)s has been set up at %(where)s.") % {
        "name": wallbox.name,
        "where": _where(wallbox.interface, target),
    }


def _adopt(wallbox: Wallbox, target: int, move_error: Exception) -> str:
    """No box at 50: after a factory reset of the manager the box still answers at its old address."""
    candidates = [target] + ([energy.WALLBOX_ADDRESS] if target != energy.WALLBOX_ADDRESS else [])
    for address in candidates:
        if address != target and address in used_addresses(wallbox.interface, wallbox.pk):
            continue
        try:
            info = _call(_driver().read_info, serial_config(wallbox.interface), address)
        except (DeviceError, TimeoutError, OSError):
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


def retry_setup(wallbox: Wallbox) -> str:
    """Try the deferred address move of a pending box again; saves the outcome."""
    if not wallbox.is_pending:
        return _("%(name)s is already set up.") % {"name": wallbox.name}
    wallbox.setup = Wallbox.Setup.DONE  # so the move picks the promised address again
    target = wallbox.address
    try:
        info = _call(_driver().move_address, serial_config(wallbox.interface), energy.WALLBOX_FACTORY_ADDRESS, target)
    except (DeviceError, TimeoutError, OSError) as error:
        wallbox.setup = Wallbox.Setup.PENDING
        if _is_vehicle_plugged(error):
            message = _("A vehicle is still plugged in: the box is moved to %(address)d once it is unplugged.") % {
                "address": target
            }
        else:
            message = _("The box did not answer at address 50: %(error)s") % {"error": error or _("timed out")}
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


def remove(wallbox: Wallbox) -> str:
    """Delete a box, writing address 50 back first (WB-2). A box that does not answer is deleted
    anyway; the message says so (it then still answers at its old address)."""
    message = _("%(name)s has been deleted; it answers at address 50 again.") % {"name": wallbox.name}
    if not wallbox.is_pending:
        try:
            _call(_driver().restore_factory_address, serial_config(wallbox.interface), wallbox.address)
        except (DeviceError, TimeoutError, OSError) as error:
            message = _(
                "%(name)s has been deleted, but it did not answer (%(error)s): it still has address %(address)d. "
                "Enter %(address)d if you set it up again."
            ) % {"name": wallbox.name, "error": error or _("timed out"), "address": wallbox.address}
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


def firmware_progress(wallbox_id: int) -> dict[str, Any]:
    """``{"state": idle|running|done|failed, "progress_pct": 0-100, "message": ...}``."""
    raw = sync_redis().get(firmware_key(wallbox_id))
    if not raw:
        return {"state": "idle", "progress_pct": 0.0, "message": ""}
    data: dict[str, Any] = json.loads(raw)
    return data


def _set_progress(wallbox_id: int, state: str, progress_pct: float, message: str = "") -> None:
    value = {"state": state, "progress_pct": round(max(0.0, min(100.0, progress_pct)), 1), "message": message}
    sync_redis().set(firmware_key(wallbox_id), json.dumps(value), ex=PROGRESS_TTL_S)


def start_firmware_update(wallbox: Wallbox, data: bytes) -> None:
    """Validate the file and hand it to the box in the background; progress goes to Redis.

    Refused while an update of the same box runs. The driver writes the image, the box restarts,
    then its firmware version is read again.
    """
    check_firmware(data)
    if wallbox.is_pending:
        raise ValidationError({"firmware": [_("Finish the setup of %(name)s first.") % {"name": wallbox.name}]})
    if firmware_progress(wallbox.pk)["state"] == "running":
        raise ValidationError({"firmware": [_("A firmware update of %(name)s is running.") % {"name": wallbox.name}]})
    _set_progress(wallbox.pk, "running", 0.0, _("Starting"))
    thread = threading.Thread(
        target=_run_firmware_update, args=(wallbox.pk, data), name=f"wallbox-firmware-{wallbox.pk}", daemon=True
    )
    thread.start()


def _run_firmware_update(wallbox_id: int, data: bytes) -> None:
    from django.db import connection

    try:
        wallbox = Wallbox.objects.get(pk=wallbox_id)

        def progress(fraction: float) -> None:
            _set_progress(wallbox_id, "running", 100.0 * float(fraction), _("Transferring"))

        info = _call(
            _driver().update_firmware,
            serial_config(wallbox.interface),
            wallbox.address,
            data,
            progress,
            deadline_s=FIRMWARE_DEADLINE_S,
        )
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
    except Exception as error:  # noqa: BLE001 - any failure must end as a message on the page, not a dead thread
        log.warning("firmware update of wallbox %s failed: %s", wallbox_id, error)
        _set_progress(wallbox_id, "failed", 0.0, _("The update failed: %(error)s") % {"error": error or "timeout"})
    finally:
        connection.close()


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

    Called by the cycle after each snapshot (in the worker's thread, not the device loop).
    Energy accumulates in memory and is written at least every minute and when a session ends.
    A pending setup is retried here once its box reports no vehicle.
    """
    if not state.wallboxes:
        return
    with _trackers_lock:
        tracker = _trackers.setdefault(plant_id, _Tracker())
    plant = plant_model()._default_manager.filter(pk=plant_id).first()
    if plant is None:
        return
    time_zone = str(getattr(plant, "time_zone", "UTC"))
    elapsed_s = (state.timestamp - tracker.timestamp).total_seconds() if tracker.timestamp else 0.0
    fraction = solar_fraction(state)
    boxes = {box.name: box for box in Wallbox.objects.filter(plant_id=plant_id)}
    flush_due = tracker.last_flush is None or (state.timestamp - tracker.last_flush).total_seconds() >= SESSION_FLUSH_S
    with transaction.atomic():
        for current in state.wallboxes:
            if current.name not in tracker.sessions:
                tracker.sessions[current.name] = _open_session(plant_id, current.name)
            session = tracker.sessions[current.name]
            previous = tracker.previous.get(current.name)
            step = box_step(previous, current, elapsed_s, fraction, session is not None)
            row = boxes.get(current.name)
            if step.end_session and session is not None:
                _flush(session, ended=state.timestamp)
                tracker.sessions[current.name] = session = None
            if step.start_session:
                created = ChargingSession.objects.create(
                    plant_id=plant_id, wallbox=row, wallbox_name=current.name, started=state.timestamp
                )
                tracker.sessions[current.name] = session = _OpenSession(created.pk, started=state.timestamp)
            if session is not None:
                session.energy_wh += step.energy_wh
                session.solar_wh += step.solar_wh
                session.charging_s += step.charging_s
                if flush_due:
                    _flush(session)
            if step.switched_to_phases is not None:
                PhaseSwitchEvent.objects.create(
                    plant_id=plant_id,
                    wallbox=row,
                    wallbox_name=current.name,
                    time=state.timestamp,
                    vehicle=vehicle_text(session, current, time_zone)[:100],
                    phases=step.switched_to_phases,
                )
            tracker.previous[current.name] = current
    if flush_due:
        tracker.last_flush = state.timestamp
    tracker.timestamp = state.timestamp
    _retry_pending(tracker, boxes.values(), state)


def _retry_pending(tracker: _Tracker, boxes: Iterable[Wallbox], state: PlantState) -> None:
    for box in boxes:
        if not box.is_pending:
            continue
        current = live_state(state, box.name)
        if current is None or not current.status.online or current.vehicle_connected:
            continue
        last = tracker.last_retry.get(box.name)
        if last is not None and (state.timestamp - last).total_seconds() < SETUP_RETRY_S:
            continue
        tracker.last_retry[box.name] = state.timestamp
        try:
            log.info("wallbox %s: %s", box.name, retry_setup(box))
        except Exception:  # a failed retry must never stop the cycle's bookkeeping
            log.warning("retrying the setup of wallbox %s failed", box.name, exc_info=True)


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
