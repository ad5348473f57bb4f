"""How the controllers put numbers into the reasons people read (pure, no Django).

Power in kW with sensible precision (``10.8 kW``, ``7.62 kW``, ``850 W``), and the exchange at
the grid connection point in words ("buying 10.8 kW", "feeding in 3.2 kW"), so a reason reads
like "buying 10.8 kW; feed-in limit 7.62 kW not reached" rather than "feed-in -10808 W within
7620 W".
"""

from __future__ import annotations

# Below this, an exchange at the grid connection point is no exchange worth naming.
BALANCED_W = 10.0


def power(power_w: float) -> str:
    """``850 W``, ``7.62 kW``, ``10.8 kW``, ``125 kW``: three significant digits, at least whole watts."""
    magnitude = abs(power_w)
    sign = "-" if power_w < 0 and round(magnitude) != 0 else ""
    if round(magnitude) < 1000:
        return f"{sign}{magnitude:.0f} W"
    kw = magnitude / 1000
    if round(kw, 2) < 10:
        text = f"{kw:.2f}"
    elif round(kw, 1) < 100:
        text = f"{kw:.1f}"
    else:
        text = f"{kw:.0f}"
    return f"{sign}{text} kW"


def apparent(power_va: float) -> str:
    """The same for apparent power: ``4.6 kVA``."""
    text = power(power_va)
    return text[:-1] + "VA" if text.endswith("W") else text


def exchange(grid_w: float) -> str:
    """The exchange at the grid connection point (purchase +, feed-in -) in words."""
    if abs(grid_w) < BALANCED_W:
        return "no exchange with the grid"
    return f"buying {power(grid_w)}" if grid_w > 0 else f"feeding in {power(-grid_w)}"


def percent(value: float) -> str:
    """``60 %``, ``60.5 %``: one decimal only where it says something."""
    return f"{value:.0f} %" if abs(value - round(value)) < 0.05 else f"{value:.1f} %"
