"""The wallbox option (WB-1) and the immutable settings the cycle gets of the boxes and the mains
connection (:func:`wallbox_configs`, :func:`mains_config`), with the RS485 lines they sit on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from energy.config import MainsConfig, SerialConfig, SolarPlusSettings, WallboxConfig
from wallbox.models import MainsSettings, TimeModeSchedule, Wallbox, default_time_mode

OPTION = "wallbox"
# The ENECTOR's RS485 line: 57600 baud, 8 data bits, no parity, 2 stop bits.
ENECTOR_LINE: dict[str, Any] = {"baudrate": 57600, "bytesize": 8, "parity": "N", "stopbits": 2}
DEFAULT_RS485_PORTS = {"A": "/dev/ttyUSB0", "B": "/dev/ttyUSB1"}


def option_active(plant: Any) -> bool:
    """The wallbox menu, pages and API exist only while the plant has the wallbox option."""
    return plant is not None and bool(plant.is_option_active(OPTION))


def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (the device apps sit below ``plant``)."""
    model = Wallbox._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


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
