"""Who may do what (ACC-4): the one place pages, the API and websockets ask.

Roles are per plant: an *installer* may change everything; an *operator* may watch, choose
charging modes and edit tariffs, and read the rest. The areas a change belongs to:
"settings" (devices, plant, Modbus, mains, access), "charging" (wallbox modes, pause/restart,
Time Mode), "tariffs".
"""

from __future__ import annotations

from typing import Any

INSTALLER = "installer"
OPERATOR = "operator"
ROLES = (INSTALLER, OPERATOR)

SETTINGS = "settings"
CHARGING = "charging"
TARIFFS = "tariffs"
AREAS = (SETTINGS, CHARGING, TARIFFS)
OPERATOR_AREAS = frozenset({CHARGING, TARIFFS})


def role_of(user: Any, plant: Any) -> str | None:
    """The user's role on ``plant`` (None: no access). The device account is an installer."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return INSTALLER


def may_change(user: Any, plant: Any, area: str) -> bool:
    role = role_of(user, plant)
    if role == INSTALLER:
        return True
    return role == OPERATOR and area in OPERATOR_AREAS
