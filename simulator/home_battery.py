"""The house battery as a hybrid inverter runs it on its own, without an energy manager."""

from __future__ import annotations

from simulator.scenario import BatteryConfig


def hybrid_battery_power_w(
    battery: BatteryConfig, soc_pct: float, pv_w: float, house_w: float, wallbox_w: float
) -> float:
    """Charge (+) from real surplus, discharge (-) to cover the house but not the car.

    Most hybrid systems keep the house battery out of car charging by default, so a car
    draws from PV and grid only; the energy manager may change that later.
    """
    surplus_w = pv_w - house_w - wallbox_w
    if surplus_w > 0.0:
        return min(surplus_w, battery.max_power_w) if soc_pct < battery.max_soc_pct else 0.0
    deficit_w = house_w - pv_w
    if deficit_w > 0.0 and soc_pct > battery.min_soc_pct:
        return -min(deficit_w, battery.max_power_w)
    return 0.0


def soc_after(battery: BatteryConfig, soc_pct: float, power_w: float, duration_s: float) -> float:
    """State of charge after ``duration_s`` at ``power_w``, held within the SoC limits (losses ignored)."""
    soc = soc_pct + power_w * duration_s / 3600.0 / battery.capacity_wh * 100.0
    return min(max(soc, battery.min_soc_pct), battery.max_soc_pct)
