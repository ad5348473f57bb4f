"""The plant's LPC/LPP state and limits as ``manage.py eebus status`` shows them."""

from __future__ import annotations

from typing import Any


def summary(plant_id: int) -> dict[str, Any]:
    """{"lpc": {...}, "lpp": {...}}: state, active limit, failsafe values, as the plant holds them now."""
    return {}


def describe(state: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("lpc", "lpp"):
        part = state.get(name)
        if not part:
            lines.append(f"{name.upper()}:     not available")
            continue
        text = ", ".join(f"{key} {value}" for key, value in part.items() if value not in (None, ""))
        lines.append(f"{name.upper()}:     {text}")
    return lines
