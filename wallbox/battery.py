"""WB-7: may a car drain the house battery? One setting per charging mode.

Each box has a setting for Power, Solar Pure and Solar Plus (:class:`~energy.config.BatteryUse`).
The mode in force decides which one applies: Time Mode uses the setting of the mode it gives
the hour, a Modbus client's command the setting of the mode it names, Lock uses none.

"Use it": the vehicle may drain the battery down to its minimum SoC. In a solar mode the box
may draw what the battery can still discharge on top of the PV surplus, so charging never stops
for lack of PV before the battery reaches its minimum; in Power mode a battery the product
manages keeps covering the car as it covers the house.

"Do not use it": a battery the product manages (a PIKO MP plus under battery management) is
bounded so that it covers the house and the other boxes but not this box's draw, except while
the box's cloud hysteresis runs (the battery then bridges those minutes at the minimum
current). A discharging battery never counts as surplus for a solar mode either way.

Pure functions: no Django, no sockets, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from energy import wording
from energy.config import BATTERY_POWER_W, POWER, SOLAR_PLUS, SOLAR_PURE, WallboxConfig
from energy.state import Limit, PlantState, Setpoint

MODE_LABELS = {POWER: "Power", SOLAR_PURE: "Solar Pure", SOLAR_PLUS: "Solar Plus"}


def uses_battery(box: WallboxConfig, mode: str) -> bool:
    """The box's setting for ``mode``, the mode in force (Time Mode already resolved)."""
    return box.battery_use.in_mode(mode)


@dataclass(frozen=True, slots=True)
class KeptOut:
    """A box whose draw the house battery must not cover this cycle."""

    name: str
    mode: str
    draw_w: float


def managed_battery(requests: Mapping[tuple[str, str], Setpoint]) -> str | None:
    """The battery the product moves this cycle (battery management asked for its power)."""
    return next((device for device, quantity in requests if quantity == BATTERY_POWER_W), None)


def battery_power_of(state: PlantState, device: str) -> float:
    inverter = next((inv for inv in state.inverters if inv.name == device), None)
    if inverter is not None and inverter.battery_power_w is not None:
        return inverter.battery_power_w
    return state.flow.battery_power_w or 0.0


def discharge_bound(device: str, grid_w: float, battery_w: float, kept_out: Sequence[KeptOut]) -> Limit | None:
    """The discharge bound on ``device`` that keeps the boxes in ``kept_out`` off the battery.

    Grid (purchase +) = house + cars + battery (charge +) - PV, so what the house and the other
    boxes lack from PV is ``grid - battery - kept-out draw``: the battery may discharge that
    much, no more. The bound follows from one measurement and does not depend on what the
    battery does now, so it neither lags nor oscillates.
    """
    kept_w = sum(max(k.draw_w, 0.0) for k in kept_out)
    if kept_w <= 0.0:
        return None
    allowed_w = max(0.0, grid_w - battery_w - kept_w)
    names = ", ".join(f"{k.name} ({MODE_LABELS.get(k.mode, k.mode)})" for k in kept_out if k.draw_w > 0)
    return Limit(
        device=device,
        quantity=BATTERY_POWER_W,
        min_value=-round(allowed_w, 1),
        reason=f"house battery not used for charging: {names}; discharge up to {wording.power(allowed_w)}",
    )
