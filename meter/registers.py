"""KSEM register layout as data, with encoding to and decoding from 16-bit registers.

Layout and scaling from the KSEM G1/G2 "Interface
Description MODBUS": big-endian bytes and high word first (ABCD) for every 32/64-bit value.
Powers are split into an unsigned (+) and (-) register pair; net = (+) - (-).
Energy registers are U64 in 0.1 Wh (varh, VAh). Current and voltage U32 in 0.001 A/V,
power factor S32 in 0.001, frequency U32 in 0.001 Hz.

The same tables drive the simulator (encode), the meter driver (decode) and, later,
the product's own Modbus slave and the "dynamic Modbus mapping overview" page.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from energy.state import (
    DeviceInfo,
    EnergyCounters,
    FlowSummary,
    MeterReading,
    PhaseReading,
)

WORD_BITS = 16
MAX_READ_COUNT = 123  # the largest FC03 read a Modbus PDU can carry


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    address: int
    name: str
    dtype: str  # u16, u32, s32, u64, str
    scale: float  # engineering value = raw * scale
    unit: str
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count


_WORDS = {"u16": 1, "u32": 2, "s32": 2, "u64": 4}


def _spec(address: int, name: str, dtype: str, scale: float = 1.0, unit: str = "", count: int = 0) -> RegisterSpec:
    return RegisterSpec(address, name, dtype, scale, unit, count or _WORDS[dtype])


# --- instantaneous values: totals 0-27, per phase 40-145 -----------------------------------
_POWER_QUANTITIES = (
    # (offset, name, unit) within a block; a (+) register at offset, its (-) twin at offset + 2
    (0, "active_power", "W"),
    (4, "reactive_power", "var"),
    (16, "apparent_power", "VA"),
)


def _instantaneous_specs() -> list[RegisterSpec]:
    specs: list[RegisterSpec] = []
    for offset, name, unit in _POWER_QUANTITIES:
        specs.append(_spec(offset, f"{name}_plus", "u32", 0.1, unit))
        specs.append(_spec(offset + 2, f"{name}_minus", "u32", 0.1, unit))
    specs.append(_spec(24, "power_factor", "s32", 0.001))
    specs.append(_spec(26, "frequency", "u32", 0.001, "Hz"))
    for phase in (1, 2, 3):
        base = 40 * phase
        for offset, name, unit in _POWER_QUANTITIES:
            specs.append(_spec(base + offset, f"{name}_plus_l{phase}", "u32", 0.1, unit))
            specs.append(_spec(base + offset + 2, f"{name}_minus_l{phase}", "u32", 0.1, unit))
        specs.append(_spec(base + 20, f"current_l{phase}", "u32", 0.001, "A"))
        specs.append(_spec(base + 22, f"voltage_l{phase}", "u32", 0.001, "V"))
        specs.append(_spec(base + 24, f"power_factor_l{phase}", "s32", 0.001))
    specs.append(_spec(146, "minimum_active_power_plus", "u32", 0.1, "W"))
    return specs


# --- energy counters: totals 512-551, per phase 592-791 ------------------------------------
_ENERGY_QUANTITIES = (
    # (offset, counter field of EnergyCounters, unit)
    (0, "active_import_wh", "Wh"),
    (4, "active_export_wh", "Wh"),
    (8, "reactive_import_varh", "varh"),
    (12, "reactive_export_varh", "varh"),
    (32, "apparent_import_vah", "VAh"),
    (36, "apparent_export_vah", "VAh"),
)


def _energy_specs() -> list[RegisterSpec]:
    specs = [_spec(512 + off, f"energy_{field}", "u64", 0.1, unit) for off, field, unit in _ENERGY_QUANTITIES]
    for phase in (1, 2, 3):
        base = 592 + 80 * (phase - 1)
        specs += [
            _spec(base + off, f"energy_{field}_l{phase}", "u64", 0.1, unit) for off, field, unit in _ENERGY_QUANTITIES
        ]
    return specs


# --- KSEM/RM PnP block 8192-8249 ------------------------------------------------------------
PNP_SPECS = [
    _spec(8192, "manufacturer_id", "u16"),
    _spec(8193, "product_id", "u16"),
    _spec(8194, "product_version", "u16"),
    _spec(8195, "firmware_version", "u16"),
    _spec(8196, "vendor", "str", count=16),
    _spec(8212, "product", "str", count=16),
    _spec(8228, "serial", "str", count=16),
    _spec(8244, "measuring_interval_ms", "u16", unit="ms"),
]
PNP_BLOCK = (8192, 58)

# --- KSEM G2 energy-flow summary block 0xA000 -----------------------------------------------
FLOW_BASE = 0xA000
FLOW_SPECS = [
    _spec(FLOW_BASE + 12, "grid_power", "s32", 1.0, "W"),
    _spec(FLOW_BASE + 14, "inverter_ac_power", "s32", 1.0, "W"),
    _spec(FLOW_BASE + 16, "pv_power", "s32", 1.0, "W"),
    _spec(FLOW_BASE + 22, "house_power", "s32", 1.0, "W"),
    _spec(FLOW_BASE + 24, "battery_power", "s32", 1.0, "W"),
    _spec(FLOW_BASE + 26, "battery_soc", "u16", 1.0, "%"),
    _spec(FLOW_BASE + 36, "wallbox_power", "u32", 1.0, "W"),
]
FLOW_BLOCK = (FLOW_BASE, 54)
# Flag word so a reader can tell "no battery" from "battery at 0 %": a KSEM leaves the block
# zeroed for devices it does not have. Bit 0 PV, bit 1 battery, bit 2 wallbox present.
FLOW_PRESENT = _spec(FLOW_BASE + 53, "devices_present", "u16")
FLOW_SPECS.append(FLOW_PRESENT)

INSTANTANEOUS_SPECS = _instantaneous_specs()
ENERGY_SPECS = _energy_specs()
KSEM_SPECS = INSTANTANEOUS_SPECS + ENERGY_SPECS

# Reads that cover the whole map, each within one PDU (the split OpenHAB's KSEM binding uses).
KSEM_READ_BLOCKS: tuple[tuple[int, int], ...] = ((0, 28), (40, 108), (512, 120), (672, 120))
# The instantaneous values (powers, currents, voltages, power factors, frequency) without the
# energy counters: what a guard pass between two cycles needs.
KSEM_LIVE_BLOCKS = KSEM_READ_BLOCKS[:2]


# --- raw word packing ------------------------------------------------------------------------
def _to_words(spec: RegisterSpec, value: float | str) -> list[int]:
    if spec.dtype == "str":
        raw = str(value).encode("ascii", "replace")[: spec.count * 2].ljust(spec.count * 2, b"\0")
        return list(struct.unpack(f">{spec.count}H", raw))
    scaled = round(float(value) / spec.scale)
    bits = _WORDS[spec.dtype] * WORD_BITS
    if spec.dtype.startswith("s"):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        scaled = min(max(scaled, lo), hi) & ((1 << bits) - 1)
    else:
        scaled = min(max(scaled, 0), (1 << bits) - 1)
    return [(scaled >> (WORD_BITS * i)) & 0xFFFF for i in reversed(range(_WORDS[spec.dtype]))]


def _from_words(spec: RegisterSpec, words: list[int]) -> float | str:
    if spec.dtype == "str":
        return struct.pack(f">{spec.count}H", *words).split(b"\0", 1)[0].decode("ascii", "replace")
    raw = 0
    for word in words:
        raw = (raw << WORD_BITS) | word
    bits = _WORDS[spec.dtype] * WORD_BITS
    if spec.dtype.startswith("s") and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    # Dividing by the integer divisor gives the nearest double (1203 / 10 == 120.3).
    return raw / round(1 / spec.scale) if spec.scale < 1 else raw * spec.scale


def pack(specs: Iterable[RegisterSpec], values: Mapping[str, float | str]) -> dict[int, int]:
    """Register image {address: word} of the named values."""
    image: dict[int, int] = {}
    for spec in specs:
        for i, word in enumerate(_to_words(spec, values[spec.name])):
            image[spec.address + i] = word
    return image


def unpack(specs: Iterable[RegisterSpec], image: Mapping[int, int]) -> dict[str, float | str]:
    """Named values from a register image. Raises KeyError for a register the image lacks."""
    return {spec.name: _from_words(spec, [image[spec.address + i] for i in range(spec.count)]) for spec in specs}


# (name, first address, last address + 1, sign bit or 0, divisor or 0, scale) of a number
_Decoder = tuple[str, int, int, int, int, float]


def _decoders(specs: Iterable[RegisterSpec]) -> tuple[_Decoder, ...]:
    """What :func:`_from_words` works out per value, worked out once (numbers only)."""
    plan = []
    for spec in specs:
        assert spec.dtype != "str", spec
        sign = 1 << (_WORDS[spec.dtype] * WORD_BITS - 1) if spec.dtype.startswith("s") else 0
        plan.append(
            (spec.name, spec.address, spec.end, sign, round(1 / spec.scale) if spec.scale < 1 else 0, spec.scale)
        )
    return tuple(plan)


def _unpack_numbers(plan: tuple[_Decoder, ...], image: Mapping[int, int]) -> dict[str, float | str]:
    """:func:`unpack` of numbers, the same values with less work a cycle (the meter is read every second)."""
    values: dict[str, float | str] = {}
    for name, first, end, sign, divisor, scale in plan:
        raw = 0
        for address in range(first, end):
            raw = (raw << WORD_BITS) | image[address]
        if raw >= sign > 0:
            raw -= sign << 1
        values[name] = raw / divisor if divisor else raw * scale
    return values


def blocks_to_image(blocks: Mapping[int, list[int]]) -> dict[int, int]:
    """{start: [words]} as read block by block -> {address: word}."""
    return {start + i: word for start, words in blocks.items() for i, word in enumerate(words)}


# --- meter reading <-> named values ----------------------------------------------------------
def _split(value: float) -> tuple[float, float]:
    return (value, 0.0) if value >= 0 else (0.0, -value)


def reading_to_values(reading: MeterReading) -> dict[str, float | str]:
    values: dict[str, float | str] = {}

    def powers(suffix: str, active: float, reactive: float, apparent: float) -> None:
        # Apparent power is unsigned in the model; its (+)/(-) register follows the active flow.
        for name, value in (("active_power", active), ("reactive_power", reactive)):
            values[f"{name}_plus{suffix}"], values[f"{name}_minus{suffix}"] = _split(value)
        values[f"apparent_power_plus{suffix}"], values[f"apparent_power_minus{suffix}"] = (
            (apparent, 0.0) if active >= 0 else (0.0, apparent)
        )

    powers("", reading.active_power_w, reading.reactive_power_var, reading.apparent_power_va)
    values["power_factor"] = reading.power_factor
    values["frequency"] = reading.frequency_hz
    for n, phase in enumerate(reading.phases, start=1):
        powers(f"_l{n}", phase.active_power_w, phase.reactive_power_var, phase.apparent_power_va)
        values[f"current_l{n}"] = phase.current_a
        values[f"voltage_l{n}"] = phase.voltage_v
        values[f"power_factor_l{n}"] = phase.power_factor
    values["minimum_active_power_plus"] = max(reading.active_power_w, 0.0)
    for _, field, _unit in _ENERGY_QUANTITIES:
        values[f"energy_{field}"] = getattr(reading.energy, field)
        for n, counters in enumerate(reading.phase_energy, start=1):
            values[f"energy_{field}_l{n}"] = getattr(counters, field)
    return values


def _num(values: Mapping[str, float | str], name: str) -> float:
    value = values[name]
    assert isinstance(value, float)
    return value


def values_to_reading(values: Mapping[str, float | str]) -> MeterReading:
    def net(name: str, suffix: str = "") -> float:
        return _num(values, f"{name}_plus{suffix}") - _num(values, f"{name}_minus{suffix}")

    def apparent(suffix: str) -> float:
        return _num(values, f"apparent_power_plus{suffix}") + _num(values, f"apparent_power_minus{suffix}")

    def counters(suffix: str) -> EnergyCounters:
        return EnergyCounters(**{field: _num(values, f"energy_{field}{suffix}") for _, field, _u in _ENERGY_QUANTITIES})

    phases = tuple(
        PhaseReading(
            voltage_v=_num(values, f"voltage_l{n}"),
            current_a=_num(values, f"current_l{n}"),
            active_power_w=net("active_power", f"_l{n}"),
            reactive_power_var=net("reactive_power", f"_l{n}"),
            apparent_power_va=apparent(f"_l{n}"),
            power_factor=_num(values, f"power_factor_l{n}"),
        )
        for n in (1, 2, 3)
    )
    return MeterReading(
        active_power_w=net("active_power"),
        reactive_power_var=net("reactive_power"),
        apparent_power_va=apparent(""),
        power_factor=_num(values, "power_factor"),
        frequency_hz=_num(values, "frequency"),
        phases=(phases[0], phases[1], phases[2]),
        energy=counters(""),
        phase_energy=(counters("_l1"), counters("_l2"), counters("_l3")),
    )


def encode_reading(reading: MeterReading) -> dict[int, int]:
    return pack(KSEM_SPECS, reading_to_values(reading))


def decode_reading(image: Mapping[int, int]) -> MeterReading:
    return values_to_reading(_unpack_numbers(_KSEM_DECODERS, image))


def encode_device_info(info: DeviceInfo) -> dict[int, int]:
    image = {address: 0 for address in range(PNP_BLOCK[0], PNP_BLOCK[0] + PNP_BLOCK[1])}
    image.update(pack(PNP_SPECS, {spec.name: getattr(info, spec.name) for spec in PNP_SPECS}))
    return image


def decode_device_info(image: Mapping[int, int]) -> DeviceInfo:
    values = unpack(PNP_SPECS, image)
    # Only what the plug-and-play block carries; other fields (a hardware version) keep their defaults.
    kwargs = {
        f.name: (int(values[f.name]) if f.type == "int" else values[f.name])
        for f in dataclasses.fields(DeviceInfo)
        if f.name in values
    }
    return DeviceInfo(**kwargs)  # type: ignore[arg-type]


_KSEM_DECODERS = _decoders(KSEM_SPECS)
_FLOW_DECODERS = _decoders(FLOW_SPECS)
_FLOW_PRESENT_BITS = {"pv_power_w": 1, "battery_power_w": 2, "battery_soc_pct": 2, "wallbox_power_w": 4}


def encode_flow(flow: FlowSummary, grid_power_w: float) -> dict[int, int]:
    image = {address: 0 for address in range(FLOW_BLOCK[0], FLOW_BLOCK[0] + FLOW_BLOCK[1])}
    present = 0
    for field, bit in _FLOW_PRESENT_BITS.items():
        if getattr(flow, field) is not None:
            present |= bit
    values: dict[str, float | str] = {
        "grid_power": grid_power_w,
        "inverter_ac_power": flow.pv_power_w or 0.0,
        "pv_power": flow.pv_power_w or 0.0,
        "house_power": flow.house_power_w or 0.0,
        "battery_power": flow.battery_power_w or 0.0,
        "battery_soc": flow.battery_soc_pct or 0.0,
        "wallbox_power": flow.wallbox_power_w or 0.0,
        "devices_present": present,
    }
    image.update(pack(FLOW_SPECS, values))
    return image


def decode_flow(image: Mapping[int, int]) -> FlowSummary:
    values = _unpack_numbers(_FLOW_DECODERS, image)
    present = int(_num(values, "devices_present"))

    def known(name: str, bit: int) -> float | None:
        return _num(values, name) if present & bit else None

    return FlowSummary(
        pv_power_w=known("pv_power", 1),
        battery_power_w=known("battery_power", 2),
        battery_soc_pct=known("battery_soc", 2),
        house_power_w=_num(values, "house_power"),
        wallbox_power_w=known("wallbox_power", 4),
    )


def spec_by_name() -> dict[str, RegisterSpec]:
    return {spec.name: spec for spec in [*KSEM_SPECS, *PNP_SPECS, *FLOW_SPECS]}


def markdown_table() -> str:
    """The served KSEM map as a Markdown table (docs/modbus.md is checked against it)."""
    rows = ["| address | registers | name | type | scale | unit |", "|---:|---:|---|---|---|---|"]
    for spec in sorted([*KSEM_SPECS, *PNP_SPECS, *FLOW_SPECS], key=lambda s: s.address):
        rows.append(f"| {spec.address} | {spec.count} | {spec.name} | {spec.dtype} | {spec.scale:g} | {spec.unit} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
