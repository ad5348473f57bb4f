"""Wallbox drivers: the KOSTAL ENECTOR on Modbus RTU (:mod:`.enector` in the cycle, :mod:`.enector_setup` for
its setup and firmware jobs)."""

from __future__ import annotations

from wallbox.drivers.enector import (
    EnectorError,
    EnectorWallbox,
    VehiclePluggedIn,
    WallboxInfo,
    connect_wallbox,
)
from wallbox.drivers.enector_setup import move_address, read_info, restore_factory_address, update_firmware

__all__ = [
    "EnectorError",
    "EnectorWallbox",
    "VehiclePluggedIn",
    "WallboxInfo",
    "connect_wallbox",
    "move_address",
    "read_info",
    "restore_factory_address",
    "update_firmware",
]
