"""The inverter types the product knows (INV-1): power classes, category, how they are reached.

Pure data, no Django: the settings pages, the drivers, the simulator and the replay share it.
Power classes carry the nominal maximum AC output of each model, as KOSTAL names them in its
datasheets (the number in the name is the AC output in kW; PIKO MP plus adds "-1"/"-2" for the
number of MPP trackers).
"""

from __future__ import annotations

from dataclasses import dataclass

from energy import config

CATEGORY_PV = "photovoltaic"
CATEGORY_PV_BATTERY = "photovoltaic with battery"
CATEGORY_BATTERY = "battery"

PROTOCOL_KOSTAL = "kostal"  # KOSTAL's own Modbus TCP map (port 1502, unit 71)
PROTOCOL_SUNSPEC = "sunspec"  # SunSpec models from 40000


@dataclass(frozen=True, slots=True)
class PowerClass:
    name: str  # as on the type plate: "10", "8.5", "3.6-2"
    max_ac_w: float


@dataclass(frozen=True, slots=True)
class InverterType:
    key: str  # as in energy.config: "plenticore", "piko_ci", ...
    label: str
    category: str
    protocol: str
    controllable: bool  # the product may write its active-power limit
    battery_input: bool  # a house battery can be connected to it
    power_classes: tuple[PowerClass, ...]

    def power_class(self, name: str) -> PowerClass:
        for power_class in self.power_classes:
            if power_class.name == name:
                return power_class
        known = ", ".join(p.name for p in self.power_classes)
        raise ValueError(f"{self.label}: unknown power class {name!r} (known: {known})")

    def power_class_for(self, max_ac_w: float) -> PowerClass | None:
        """The power class with exactly this maximum AC output, if there is one."""
        return next((p for p in self.power_classes if abs(p.max_ac_w - max_ac_w) < 0.5), None)


def _classes(*names: str) -> tuple[PowerClass, ...]:
    return tuple(PowerClass(name, float(name.split("-")[0]) * 1000.0) for name in names)


_SMALL_HYBRID = ("3.0", "4.2", "5.5", "7.0", "8.5", "10")

INVERTER_TYPES: dict[str, InverterType] = {
    t.key: t
    for t in (
        InverterType(
            config.PLENTICORE,
            "PLENTICORE plus",
            CATEGORY_PV_BATTERY,
            PROTOCOL_KOSTAL,
            controllable=True,
            battery_input=True,
            power_classes=_classes(*_SMALL_HYBRID),
        ),
        InverterType(
            config.PLENTICORE_BI,
            "PLENTICORE BI",
            CATEGORY_BATTERY,
            PROTOCOL_KOSTAL,
            controllable=True,
            battery_input=True,
            power_classes=_classes("5.5", "10"),
        ),
        InverterType(
            config.PIKO_IQ,
            "PIKO IQ",
            CATEGORY_PV,
            PROTOCOL_KOSTAL,
            controllable=True,
            battery_input=False,
            power_classes=_classes(*_SMALL_HYBRID),
        ),
        InverterType(
            config.PIKO_EPC,
            "PIKO 4.2-20",
            CATEGORY_PV,
            PROTOCOL_SUNSPEC,
            controllable=True,
            battery_input=False,
            power_classes=_classes("4.2", "5.5", "7.0", "8.5", "10", "12", "15", "17", "20"),
        ),
        InverterType(
            config.PIKO_CI,
            "PIKO CI",
            CATEGORY_PV,
            PROTOCOL_SUNSPEC,
            # Its limit is set in the inverter itself; the product only reads it (INV-3).
            controllable=False,
            battery_input=False,
            power_classes=_classes("30", "50", "60", "100"),
        ),
        InverterType(
            config.PIKO_MP_PLUS,
            "PIKO MP plus",
            CATEGORY_PV_BATTERY,
            PROTOCOL_SUNSPEC,
            controllable=True,
            battery_input=True,
            power_classes=_classes("1.5-2", "2.0-2", "2.5-2", "3.0-2", "3.6-2", "4.2-2", "4.6-2", "5.0-2"),
        ),
    )
}

assert set(INVERTER_TYPES) == set(config.INVERTER_TYPES)
assert {k for k, t in INVERTER_TYPES.items() if not t.controllable} == config.MONITORED_ONLY_TYPES
assert {k for k, t in INVERTER_TYPES.items() if t.protocol == PROTOCOL_KOSTAL} == config.KOSTAL_MAP_TYPES


def inverter_type(key: str) -> InverterType:
    try:
        return INVERTER_TYPES[key]
    except KeyError:
        raise ValueError(f"unknown inverter type {key!r} (known: {', '.join(INVERTER_TYPES)})") from None
