"""House battery types (INV-5): module count -> capacity and charge/discharge power.

Figures from BYD's public datasheets of the Battery-Box Premium series:

* HVS: 2.56 kWh per module (102.4 V LFP module), 2-5 modules = 5.12-12.8 kWh, max current 25 A.
* HVM: 2.76 kWh per module (51.2 V LFP module), 3-8 modules = 8.28-22.08 kWh, max current 50 A.

The power a stack can charge and discharge is its nominal voltage times the maximum current,
and never more than 1 C (capacity per hour): HVS comes out at exactly 1 C (5.12 kW for two
modules), HVM a little under (7.7 kW for three modules).
"""

from __future__ import annotations

from dataclasses import dataclass

from energy.config import HouseBatteryConfig


@dataclass(frozen=True, slots=True)
class BatteryType:
    key: str
    label: str
    module_wh: float
    module_voltage_v: float
    max_current_a: float
    min_modules: int
    max_modules: int

    def power_w(self, modules: int) -> float:
        return min(modules * self.module_voltage_v * self.max_current_a, modules * self.module_wh)


BATTERY_TYPES: dict[str, BatteryType] = {
    t.key: t
    for t in (
        BatteryType("byd_hvs", "BYD Battery-Box Premium HVS", 2560.0, 102.4, 25.0, 2, 5),
        BatteryType("byd_hvm", "BYD Battery-Box Premium HVM", 2760.0, 51.2, 50.0, 3, 8),
    )
}


def battery_for(type_: str, modules: int) -> HouseBatteryConfig:
    """The battery of this type with this many modules; ``ValueError`` names what is wrong."""
    battery = BATTERY_TYPES.get(type_)
    if battery is None:
        raise ValueError(f"unknown battery type {type_!r} (known: {', '.join(BATTERY_TYPES)})")
    if isinstance(modules, bool) or not isinstance(modules, int):
        raise ValueError(f"{battery.label}: the number of modules must be a whole number, got {modules!r}")
    if not battery.min_modules <= modules <= battery.max_modules:
        raise ValueError(f"{battery.label}: {modules} modules; it takes {battery.min_modules} to {battery.max_modules}")
    power_w = battery.power_w(modules)
    return HouseBatteryConfig(
        type=type_,
        modules=modules,
        capacity_wh=modules * battery.module_wh,
        max_charge_w=power_w,
        max_discharge_w=power_w,
    )
