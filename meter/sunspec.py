"""SunSpec register image of the meter: "SunS", common model 1, meter model 203, end model.

Layout from the KSEM interface description (docs/modbus.md) and the official model definitions
(sunspec/models ``model_1.json``, ``model_203.json``): with the marker at 40000, model 1 (L=66,
including its pad) starts at 40002 and model 203 at 40070, as on KSEM firmware 2.6 and later.
Everything is big-endian. Values are int16 with a scale factor per group and energies acc32
in Wh; like the KSEM, points it does not measure read 0x8000 (int16) or 0x80000000 (acc32).
Clients are expected to walk the model chain rather than hard-code addresses.
"""

from __future__ import annotations

from collections.abc import Mapping

from energy.state import DeviceInfo, EnergyCounters, MeterReading
from energy.sunspec import (
    SUNS_MARKER,
    SUNSPEC_BASE,
    ModelLayout,
    Point,
    Value,
    chain_image,
    fit_scale_factors,
    model_words,
    scale_value,
    split32,
    string_words,
    sunssf_words,
)

NOT_IMPLEMENTED_INT16 = 0x8000
# The KSEM's value for energies it does not count (SunSpec itself would say 0).
NOT_IMPLEMENTED_ACC32 = 0x8000_0000
PAD_VALUE = 0x8000
INT16_MAX = 0x7FFF
ACC32_MODULUS = 1 << 32  # accumulators roll over


COMMON_MODEL = ModelLayout(
    1,
    (
        Point("Mn", "string", 16),
        Point("Md", "string", 16),
        Point("Opt", "string", 8),
        Point("Vr", "string", 8),
        Point("SN", "string", 16),
        Point("DA", "uint16"),
        Point("Pad", "pad"),
    ),
)


def _group(sf: str, *names: str) -> tuple[Point, ...]:
    return (*(Point(name, "int16", 1, sf) for name in names), Point(sf, "sunssf"))


def _energy_group(sf: str, *names: str) -> tuple[Point, ...]:
    return (*(Point(name, "acc32", 2, sf) for name in names), Point(sf, "sunssf"))


def _four(prefix: str) -> tuple[str, ...]:
    return (prefix, f"{prefix}PhA", f"{prefix}PhB", f"{prefix}PhC")


WYE_METER_MODEL = ModelLayout(
    203,
    (
        *_group("A_SF", "A", "AphA", "AphB", "AphC"),
        *_group("V_SF", "PhV", "PhVphA", "PhVphB", "PhVphC", "PPV", "PhVphAB", "PhVphBC", "PhVphCA"),
        *_group("Hz_SF", "Hz"),
        *_group("W_SF", "W", "WphA", "WphB", "WphC"),
        *_group("VA_SF", "VA", "VAphA", "VAphB", "VAphC"),
        *_group("VAR_SF", "VAR", "VARphA", "VARphB", "VARphC"),
        *_group("PF_SF", "PF", "PFphA", "PFphB", "PFphC"),
        *_energy_group("TotWh_SF", *_four("TotWhExp"), *_four("TotWhImp")),
        *_energy_group("TotVAh_SF", *_four("TotVAhExp"), *_four("TotVAhImp")),
        *_energy_group(
            "TotVArh_SF", *_four("TotVArhImpQ1"), *_four("TotVArhImpQ2"), *_four("TotVArhExpQ3"), *_four("TotVArhExpQ4")
        ),
        Point("Evt", "bitfield32", 2),
    ),
)

# Finest scale factor per group; a group is coarsened only when a value would overflow int16.
# W_SF 0 carries +-32.7 kW at 1 W, A_SF -2 carries 327 A at 10 mA.
PREFERRED_SCALE_FACTORS: Mapping[str, int] = {
    "A_SF": -2,
    "V_SF": -1,
    "Hz_SF": -2,
    "W_SF": 0,
    "VA_SF": 0,
    "VAR_SF": 0,
    "PF_SF": -1,
    "TotWh_SF": 0,
    "TotVAh_SF": 0,
    "TotVArh_SF": 0,
}

SUNSPEC_LENGTH = len(SUNS_MARKER) + 2 + COMMON_MODEL.length + 2 + WYE_METER_MODEL.length + 2


def _phase_values(prefix: str, total: float, phases: tuple[float, float, float]) -> dict[str, Value]:
    return {prefix: total, f"{prefix}phA": phases[0], f"{prefix}phB": phases[1], f"{prefix}phC": phases[2]}


def _energy_values(prefix: str, field: str, reading: MeterReading) -> dict[str, Value]:
    def get(counters: EnergyCounters) -> float:
        return float(getattr(counters, field))

    phases = reading.phase_energy
    return {
        prefix: get(reading.energy),
        f"{prefix}PhA": get(phases[0]),
        f"{prefix}PhB": get(phases[1]),
        f"{prefix}PhC": get(phases[2]),
    }


def meter_values(reading: MeterReading) -> dict[str, Value]:
    """Model 203 points in engineering units (A, V, Hz, W, VA, var, %, Wh, VAh)."""
    phases = reading.phases
    currents = tuple(p.current_a for p in phases)
    voltages = tuple(p.voltage_v for p in phases)
    values: dict[str, Value] = {
        # Line-to-line voltages are not measured, as on the KSEM.
        "PPV": None,
        "PhVphAB": None,
        "PhVphBC": None,
        "PhVphCA": None,
        "Hz": reading.frequency_hz,
        "Evt": 0,
    }
    values |= _phase_values("A", sum(currents), (currents[0], currents[1], currents[2]))
    values |= {"PhV": sum(voltages) / 3, "PhVphA": voltages[0], "PhVphB": voltages[1], "PhVphC": voltages[2]}
    values |= _phase_values(
        "W", reading.active_power_w, (phases[0].active_power_w, phases[1].active_power_w, phases[2].active_power_w)
    )
    values |= _phase_values(
        "VA",
        reading.apparent_power_va,
        (phases[0].apparent_power_va, phases[1].apparent_power_va, phases[2].apparent_power_va),
    )
    values |= _phase_values(
        "VAR",
        reading.reactive_power_var,
        (phases[0].reactive_power_var, phases[1].reactive_power_var, phases[2].reactive_power_var),
    )
    # Model 203 carries the power factor in percent.
    values |= _phase_values(
        "PF",
        reading.power_factor * 100,
        (phases[0].power_factor * 100, phases[1].power_factor * 100, phases[2].power_factor * 100),
    )
    values |= _energy_values("TotWhExp", "active_export_wh", reading)
    values |= _energy_values("TotWhImp", "active_import_wh", reading)
    values |= _energy_values("TotVAhExp", "apparent_export_vah", reading)
    values |= _energy_values("TotVAhImp", "apparent_import_vah", reading)
    # The counters do not split reactive energy into quadrants, so those points stay unimplemented.
    return values


def common_values(info: DeviceInfo, device_address: int) -> dict[str, Value]:
    return {
        "Mn": info.vendor,
        "Md": info.product,
        "Opt": None,
        "Vr": str(info.firmware_version),
        "SN": info.serial,
        "DA": device_address,
    }


def choose_scale_factors(layout: ModelLayout, values: Mapping[str, Value]) -> dict[str, int]:
    """Per group, the preferred scale factor, coarsened until every int16 value fits."""
    return fit_scale_factors(layout, values, PREFERRED_SCALE_FACTORS, {"int16": (-INT16_MAX, INT16_MAX)})


def _point_words(point: Point, value: Value, factors: Mapping[str, int]) -> list[int]:
    if point.dtype == "pad":
        return [PAD_VALUE]
    if point.dtype == "sunssf":
        return sunssf_words(point, factors)
    if point.dtype == "string":
        return string_words("" if value is None else str(value), point.size)
    if value is None:
        return [NOT_IMPLEMENTED_INT16] if point.size == 1 else split32(NOT_IMPLEMENTED_ACC32)
    if isinstance(value, str):
        raise TypeError(f"{point.name}: expected a number, got {value!r}")
    scaled = scale_value(point, value, factors)
    if point.dtype == "int16":
        return [max(-INT16_MAX, min(INT16_MAX, scaled)) & 0xFFFF]
    if point.dtype == "acc32":
        return split32(max(scaled, 0) % ACC32_MODULUS)
    if point.dtype == "bitfield32":
        return split32(scaled & 0xFFFF_FFFF)
    return [scaled & 0xFFFF]


def encode_model(layout: ModelLayout, values: Mapping[str, Value]) -> list[int]:
    """ID, L and body of one model."""
    return model_words(layout, values, choose_scale_factors(layout, values), _point_words)


def encode_sunspec(
    reading: MeterReading, info: DeviceInfo, base: int = SUNSPEC_BASE, device_address: int = 1
) -> dict[int, int]:
    """Register image {address: word} of the whole SunSpec chain starting at ``base``."""
    return chain_image(
        (
            encode_model(COMMON_MODEL, common_values(info, device_address)),
            encode_model(WYE_METER_MODEL, meter_values(reading)),
        ),
        base,
    )
