"""What the pages, the admin and the API use of the inverter app.

* the rules that span devices and settings (INV-3, INV-4, MET-6), raised as Django
  ``ValidationError`` naming the field, so forms and the API report the same messages;
* the settings the drivers and the cycle get for an inverter (:func:`inverter_config`);
* the live status of each inverter, read from the plant's latest snapshot.

Detection and device info (INV-2) are :mod:`inverters.detection`: jobs the worker runs. Nothing
here talks to a device.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext as _

from energy.config import HOME_POSITION, HouseBatteryConfig, InverterConfig, SerialConfig
from energy.state import PlantState
from inverters.batteries import battery_for
from inverters.models import Battery, Inverter, PowerSettings
from inverters.types import INVERTER_TYPES
from pages.validators import validate_host

MAX_INVERTERS = 5
# With a battery system and other inverters a limit below this share of the generator power is refused (INV-4).
BATTERY_PLANT_MIN_LIMIT_PCT = 50.0
# RS485 line settings of the interfaces' presets (MB-3); the interface settings page comes later.
RS485_PRESETS: dict[str, dict[str, Any]] = {
    Inverter.Type.PIKO_MP_PLUS: {"baudrate": 19200, "bytesize": 8, "parity": "E", "stopbits": 1},
}
RS485_DEFAULT_PRESET: dict[str, Any] = {"baudrate": 38400, "bytesize": 8, "parity": "N", "stopbits": 2}
DEFAULT_RS485_PORTS = {"A": "/dev/ttyUSB0", "B": "/dev/ttyUSB1"}


# --- types and power classes -----------------------------------------------------------------


def power_classes(inverter_type: str) -> dict[str, float]:
    """Type/power class name -> maximum AC output power in W."""
    entry = INVERTER_TYPES.get(inverter_type)
    return {p.name: p.max_ac_w for p in entry.power_classes} if entry is not None else {}


def has_battery_input(inverter_type: str) -> bool:
    entry = INVERTER_TYPES.get(inverter_type)
    return entry is not None and entry.battery_input


def type_table() -> dict[str, dict[str, Any]]:
    """What the add/edit page's script needs to fill in the power and show the right fields."""
    return {
        value: {
            "classes": power_classes(value),
            "connection": "rs485" if value == Inverter.Type.PIKO_MP_PLUS else "tcp",
            "controllable": value != Inverter.Type.PIKO_CI,
            "batteryOption": has_battery_input(value) and value != Inverter.Type.PLENTICORE_BI,
        }
        for value in Inverter.Type.values
    }


def _class_order(name: str) -> tuple[float, str]:
    head = name.split("-")[0]
    return (float(head) if head.replace(".", "", 1).isdigit() else 0.0, name)


def all_power_class_choices() -> list[tuple[str, str]]:
    labels = sorted({name for value in Inverter.Type.values for name in power_classes(value)}, key=_class_order)
    return [("", "—"), *((label, label) for label in labels)]


def battery_defaults(battery_type: str, modules: int) -> dict[str, float]:
    """Nominal capacity and charge/discharge power of a battery type with a number of modules (INV-5)."""
    spec = battery_for(battery_type, modules)
    return {
        "capacity_wh": round(spec.capacity_wh, 1),
        "max_charge_w": round(spec.max_charge_w, 1),
        "max_discharge_w": round(spec.max_discharge_w, 1),
    }


# --- rules ------------------------------------------------------------------------------------


def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (the device apps sit below ``plant``)."""
    model = Inverter._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


def is_home_position(plant: Any) -> bool:
    return bool(plant.installation_position == HOME_POSITION)


def power_settings_of(plant: Any) -> PowerSettings:
    """The plant's power settings (defaults, unsaved, until someone saves them)."""
    found = PowerSettings.objects.filter(plant=plant).first() if plant.pk else None
    return found or PowerSettings(plant=plant)


def generator_power_w(inverters: Iterable[Inverter]) -> float:
    return sum(inverter.max_ac_w or 0.0 for inverter in inverters)


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _home_refusal(function: str) -> str:
    return _(
        "%(function)s needs the meter at the grid connection point, where purchase and feed-in are measured; "
        "this plant's meter is installed in the home-consumption position (MET-6)."
    ) % {"function": function}


def feed_in_floor_error(power: PowerSettings, inverters: list[Inverter]) -> str | None:
    """The 50 % rule (INV-4): with a battery system and other inverters the limit may not go lower."""
    if not power.feed_in_limit_enabled or len(inverters) < 2 or not any(i.is_battery_system for i in inverters):
        return None
    generator_w = generator_power_w(inverters)
    floor_w = generator_w * BATTERY_PLANT_MIN_LIMIT_PCT / 100
    if power.limit_w(generator_w) >= floor_w - 1e-6:
        return None
    return _(
        "With a battery system and other inverters the feed-in limit may not be set below 50 %% of the "
        "generator power: at least %(floor).0f W of %(generator).0f W (INV-4)."
    ) % {"floor": floor_w, "generator": generator_w}


def check_inverter(inverter: Inverter) -> None:
    """Refuse an inverter that breaks a rule, naming the field (or ``__all__`` for plant-wide rules).

    Also tidies what does not apply to the type (TCP fields of an RS485 device and the other way).
    """
    inverter.derive()
    errors: dict[str, list[str]] = {}
    plant = inverter.plant
    others = list(Inverter.objects.filter(plant=plant).exclude(pk=inverter.pk)) if plant.pk else []

    if inverter.pk is None and len(others) >= MAX_INVERTERS:
        _add(
            errors,
            NON_FIELD_ERRORS,
            _("A plant has at most %(max)d inverters in a multiple-inverter connection (INV-3).")
            % {"max": MAX_INVERTERS},
        )
    if any(other.name == inverter.name for other in others):
        _add(errors, "name", _("This plant already has an inverter named %(name)s.") % {"name": inverter.name})

    classes = power_classes(inverter.type)
    if inverter.power_class and inverter.power_class not in classes:
        _add(
            errors,
            "power_class",
            _("%(power_class)s is not a power class of the %(type)s.")
            % {"power_class": inverter.power_class, "type": inverter.get_type_display()},
        )

    if inverter.connection == Inverter.Connection.TCP:
        inverter.interface, inverter.address = "", None
        if not inverter.host:
            _add(errors, "host", _("A %(type)s is reached over the network: enter its IP address or host name.")
                 % {"type": inverter.get_type_display()})  # fmt: skip
        else:
            try:
                validate_host(inverter.host)
            except ValidationError as error:
                errors.setdefault("host", []).extend(error.messages)
    else:
        inverter.host = ""
        if not inverter.interface:
            _add(errors, "interface", _("A %(type)s is connected to RS485 A or B: choose the interface.")
                 % {"type": inverter.get_type_display()})  # fmt: skip
        if inverter.address is None:
            _add(errors, "address", _("Enter the device's RS485 address (1-247)."))
        clash = next(
            (
                o
                for o in others
                if o.connection == Inverter.Connection.RS485
                and o.interface == inverter.interface
                and o.address == inverter.address
            ),
            None,
        )
        if clash is not None and inverter.address is not None:
            _add(
                errors,
                "address",
                _("Address %(address)s on RS485 %(interface)s is already used by %(name)s; every device on a bus "
                  "needs an address of its own.")
                % {"address": inverter.address, "interface": inverter.interface, "name": clash.name},
            )  # fmt: skip

    if inverter.with_battery and not has_battery_input(inverter.type):
        _add(errors, "with_battery", _("Only a PLENTICORE or a PIKO MP plus can have a battery."))
        inverter.with_battery = False
    power = power_settings_of(plant)
    if inverter.type == Inverter.Type.PIKO_MP_PLUS and inverter.with_battery:
        if not power.battery_management_unlocked:
            _add(
                errors,
                "with_battery",
                _("A PIKO MP plus with battery needs battery management, which must first be unlocked with its "
                  "activation code (INV-3)."),
            )  # fmt: skip
        if is_home_position(plant):
            _add(errors, "with_battery", _home_refusal(_("Battery management")))
    if inverter.is_battery_system:
        holder = next((o for o in others if o.is_battery_system), None)
        if holder is not None:
            _add(
                errors,
                NON_FIELD_ERRORS,
                _("A plant has at most one hybrid or battery inverter with a battery (PLENTICORE with battery, "
                  "PLENTICORE BI, PIKO MP plus with battery); %(name)s already is one (INV-3).")
                % {"name": holder.name},
            )  # fmt: skip
    if not errors and inverter.max_ac_w:
        floor = feed_in_floor_error(power, [*others, inverter])
        if floor:
            _add(errors, NON_FIELD_ERRORS, floor + " " + _("Raise the feed-in limit first."))
    if errors:
        raise ValidationError(errors)


def check_battery(battery: Battery) -> None:
    inverter = battery.inverter
    errors: dict[str, list[str]] = {}
    if inverter.type != Inverter.Type.PIKO_MP_PLUS:
        _add(errors, NON_FIELD_ERRORS, _("Only a PIKO MP plus has a battery set up here (INV-5)."))
    elif not inverter.with_battery:
        _add(errors, NON_FIELD_ERRORS, _("Switch on the battery option of %(name)s first.") % {"name": inverter.name})
    if errors:
        raise ValidationError(errors)


def check_power_settings(power: PowerSettings) -> None:
    """The plant-wide rules of feed-in limitation and battery management (INV-4, INV-5, MET-6)."""
    errors: dict[str, list[str]] = {}
    plant = power.plant
    inverters = list(Inverter.objects.filter(plant=plant)) if plant.pk else []
    generator_w = generator_power_w(inverters)
    home = is_home_position(plant)

    if power.limit_mode == PowerSettings.LimitMode.PERCENT and not 0 <= power.limit_value <= 100:
        _add(errors, "limit_value", _("A limit in percent of the generator power lies between 0 and 100."))
    if power.feed_in_limit_enabled:
        if home:
            _add(errors, "feed_in_limit_enabled", _home_refusal(_("Feed-in limitation")))
        elif not any(i.controllable for i in inverters):
            message = (
                _("None of the inverters can be controlled: a PIKO CI is only monitored, its limit is set in the "
                  "PIKO CI itself (INV-3).")
                if inverters
                else _("Add the inverters first: the limit is spread over them in proportion to their maximum AC "
                       "output power.")
            )  # fmt: skip
            _add(errors, "feed_in_limit_enabled", message)
        if power.limit_mode == PowerSettings.LimitMode.WATT and not 0 <= power.limit_value <= generator_w:
            _add(
                errors,
                "limit_value",
                _("A limit in W lies between 0 and the generator power, %(generator).0f W.")
                % {"generator": generator_w},
            )
        if "limit_value" not in errors:
            floor = feed_in_floor_error(power, inverters)
            if floor:
                _add(errors, "limit_value", floor)
    if power.battery_management_enabled:
        if home:
            _add(errors, "battery_management_enabled", _home_refusal(_("Battery management")))
        elif not power.battery_management_unlocked:
            _add(
                errors,
                "battery_management_enabled",
                _("Battery management must first be unlocked with its activation code (INV-3)."),
            )
    if power.min_soc_pct >= power.max_soc_pct:
        _add(errors, "min_soc_pct", _("The minimum SoC must be below the maximum SoC."))
    if power.full_by is not None and not dt.time(8, 0) <= power.full_by <= dt.time(22, 0):
        _add(errors, "full_by", _("The time to be full by must lie between 08:00 and 22:00."))
    if errors:
        raise ValidationError(errors)


# --- the settings the drivers get --------------------------------------------------------------------------


def rs485_ports() -> dict[str, str]:
    """Which serial line each RS485 interface is: a device path or a pyserial URL (``socket://host:port``)."""
    return {**DEFAULT_RS485_PORTS, **getattr(settings, "KSEM_RS485_PORTS", {})}


def inverter_config(inverter: Inverter) -> InverterConfig:
    """The immutable settings the drivers and the cycle get for one inverter."""
    inverter.derive()
    serial = None
    unit_id = inverter.unit_id
    if inverter.connection == Inverter.Connection.RS485:
        preset = RS485_PRESETS.get(inverter.type, RS485_DEFAULT_PRESET)
        serial = SerialConfig(port=rs485_ports().get(inverter.interface, ""), **preset)
        unit_id = inverter.address or 1
    return InverterConfig(
        name=inverter.name,
        type=inverter.type,
        max_ac_w=float(inverter.max_ac_w),
        host=inverter.host,
        port=inverter.port,
        unit_id=unit_id,
        serial=serial,
        timeout_s=float(inverter.timeout_s),
        battery=battery_config(inverter),
    )


def battery_config(inverter: Inverter) -> HouseBatteryConfig | None:
    battery = None
    if inverter.pk:
        try:
            battery = inverter.battery  # fetched with select_related("battery") by load_config
        except Battery.DoesNotExist:
            battery = None
    if battery is not None and inverter.type == Inverter.Type.PIKO_MP_PLUS and inverter.with_battery:
        return HouseBatteryConfig(
            type=battery.type,
            modules=battery.modules,
            capacity_wh=battery.capacity_wh,
            max_charge_w=battery.max_charge_w,
            max_discharge_w=battery.max_discharge_w,
        )
    if inverter.type in (Inverter.Type.PLENTICORE, Inverter.Type.PLENTICORE_BI) and inverter.with_battery:
        # The hybrid inverter manages its own battery; only its power bound is known here.
        return HouseBatteryConfig(
            type=inverter.type,
            modules=0,
            capacity_wh=0.0,
            max_charge_w=float(inverter.max_ac_w),
            max_discharge_w=float(inverter.max_ac_w),
        )
    return None


def next_position(plant: Any) -> int:
    last = Inverter.objects.filter(plant=plant).aggregate(models.Max("position"))["position__max"]
    return 0 if last is None else last + 1


# --- live status ----------------------------------------------------------------------------------


def live_status(state: PlantState | None, name: str) -> dict[str, str]:
    """``ok``/``error``/``unknown`` and the error message of an inverter in the latest snapshot."""
    for inverter in state.inverters if state else ():
        if inverter.name == name:
            if inverter.status.online:
                return {"status": "ok", "error": ""}
            return {"status": "error", "error": inverter.status.error}
    return {"status": "unknown", "error": ""}
