"""What the pages and the API show of the last cycle's snapshot: a box's live state and status,
the Modbus client's wallbox command (MB-2), the phase load against the fuse (WB-11) and the mode
in force."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.utils import timezone

from energy import config as energy
from energy.config import MainsConfig
from energy.state import PlantState, WallboxState
from wallbox.configs import time_mode_of
from wallbox.models import Wallbox


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
