"""The plant's LPC/LPP state and limits as ``manage.py eebus status`` shows them."""

from __future__ import annotations

from typing import Any

from smartgrid import services


def summary(plant_id: int) -> dict[str, Any]:
    """{"enabled", "failsafe_active", "lpc": {state, since, limit_w, until}, "lpp": {...}, "heartbeat_at"}."""
    return services.status_data(services.status(plant_id))


def describe(state: dict[str, Any]) -> list[str]:
    if not state.get("enabled"):
        return ["LPC/LPP: not controlled by the grid operator (switched off for this plant)"]
    lines = []
    if state.get("failsafe_active"):
        lines.append("power limitation is active with failsafe values")
    for name in ("lpc", "lpp"):
        part = state.get(name) or {}
        limit = part.get("limit_w")
        text = f"{name.upper()}:     {part.get('state', '?')}"
        if limit is not None:
            text += f", limit {limit:.0f} W"
        if part.get("until"):
            text += f" until {part['until']}"
        lines.append(text)
    lines.append(f"heartbeat: {state.get('heartbeat_at') or 'none yet'}")
    return lines
