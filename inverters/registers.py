"""KOSTAL's own Modbus map of PLENTICORE plus, PLENTICORE BI and PIKO IQ, as data.

Reached over Modbus TCP on port 1502, unit id 71 (both changeable in the inverter). Holding
registers, read with FC03. 32-bit values (float32 and U32) come low word first ("CDAB", the
factory setting of register 5); strings are plain ASCII, two characters per register, padded
with NUL. The same tables drive the simulated inverter (encode) and the driver (decode).

Sign conventions of the inverter (not of the product): register 582 (actual battery power)
and register 1034 (battery power setpoint) count **charging negative, discharging positive**,
i.e. they look at the battery from the inverter's DC side, where a discharging battery is a
source. The product counts battery power charge (+) / discharge (-), so the driver negates both.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_READ_COUNT = 123
WORD_ORDER_CDAB = "little"  # register 5 = 0, the factory default: low word first
WORD_ORDER_ABCD = "big"

Value = float | int | str

# Register 1080: who manages the battery. Only in mode 2 does the inverter obey 1024-1044.
BATTERY_MODE_NONE = 0
BATTERY_MODE_DIGITAL_IO = 1
BATTERY_MODE_MODBUS = 2

# Register 56.
INVERTER_STATES = {
    0: "off",
    1: "init",
    2: "isolation measurement",
    3: "grid check",
    4: "start up",
    6: "feed in",
    7: "throttled",
    8: "external switch off",
    9: "update",
    10: "standby",
    11: "grid synchronisation",
    12: "grid pre-check",
    13: "grid switch off",
    14: "overheating",
    15: "shutdown",
    16: "improper DC voltage",
    17: "emergency power supply",
    18: "unknown",
}
STATE_FEED_IN = 6
STATE_THROTTLED = 7
STATE_STANDBY = 10


@dataclass(frozen=True, slots=True)
class KostalRegister:
    address: int
    name: str
    dtype: str  # u16, s16, u32, float, str
    count: int
    unit: str = ""
    writable: bool = False
    description: str = ""

    @property
    def end(self) -> int:
        return self.address + self.count


_WORDS = {"u16": 1, "s16": 1, "u32": 2, "float": 2}


def _reg(
    address: int, name: str, dtype: str, unit: str = "", *, count: int = 0, writable: bool = False, text: str = ""
) -> KostalRegister:
    return KostalRegister(address, name, dtype, count or _WORDS[dtype], unit, writable, text)


REGISTERS: tuple[KostalRegister, ...] = (
    _reg(5, "byte_order", "u16", writable=True, text="0 = CDAB (little-endian words), 1 = ABCD"),
    _reg(6, "article_number", "str", count=8, text="inverter article number"),
    _reg(14, "serial_number", "str", count=8, text="inverter serial number"),
    _reg(30, "bidirectional_converters", "u16", text="number of bidirectional converters"),
    _reg(32, "ac_phases", "u16", text="number of AC phases"),
    _reg(34, "pv_strings", "u16", text="number of PV strings"),
    _reg(36, "hardware_version", "u32", text="hardware version"),
    _reg(38, "software_version", "str", count=8, text="software version of the main controller"),
    _reg(56, "inverter_state", "u32", text="inverter state (see INVERTER_STATES)"),
    _reg(100, "dc_power", "float", "W", text="total DC power"),
    _reg(152, "grid_frequency", "float", "Hz", text="grid frequency"),
    _reg(172, "ac_power", "float", "W", text="total AC active power"),
    _reg(210, "battery_soc", "float", "%", text="battery state of charge"),
    _reg(514, "battery_soc_pct", "u16", "%", text="battery state of charge, whole percent"),
    _reg(531, "max_power", "u16", "W", text="inverter max power (scaled by 532)"),
    _reg(532, "max_power_sf", "s16", text="scale factor of 531"),
    _reg(533, "active_power_setpoint", "u16", "%", writable=True, text="active power setpoint 1-100 % (FC06)"),
    _reg(575, "generation_power", "s16", "W", text="inverter generation power (scaled by 576)"),
    _reg(576, "generation_power_sf", "s16", text="scale factor of 575"),
    _reg(582, "battery_power", "s16", "W", text="actual battery power: charge (-), discharge (+)"),
    _reg(768, "product_name", "str", count=32, text="product name, e.g. 'PLENTICORE plus'"),
    _reg(800, "power_class", "str", count=32, text="power class, e.g. '10'"),
    _reg(
        1034,
        "battery_setpoint",
        "float",
        "W",
        writable=True,
        text="battery charge power (DC) setpoint: charge (-), discharge (+); only in mode 2",
    ),
    _reg(1038, "battery_max_charge", "float", "W", writable=True, text="battery max charge power limit"),
    _reg(1040, "battery_max_discharge", "float", "W", writable=True, text="battery max discharge power limit"),
    _reg(1042, "battery_min_soc", "float", "%", writable=True, text="minimum SoC"),
    _reg(1044, "battery_max_soc", "float", "%", writable=True, text="maximum SoC"),
    _reg(1066, "pv_dc_power", "float", "W", text="total DC power of the PV inputs"),
    _reg(1068, "battery_work_capacity", "float", "Wh", text="battery work capacity"),
    _reg(1076, "battery_max_charge_hw", "float", "W", text="max charge power the battery allows"),
    _reg(1078, "battery_max_discharge_hw", "float", "W", text="max discharge power the battery allows"),
    _reg(1080, "battery_mode", "u16", text="battery management: 0 none, 1 digital I/O, 2 external via Modbus"),
)
BY_NAME: dict[str, KostalRegister] = {r.name: r for r in REGISTERS}
BY_ADDRESS: dict[int, KostalRegister] = {r.address: r for r in REGISTERS}

# What the driver reads each cycle, in as few requests as possible (each at most 123 registers):
MEASURE_BLOCK = (100, 112)  # 100-211: DC power, frequency, AC power, battery SoC
CONTROL_BLOCK = (514, 69)  # 514-582: SoC, max power, setpoint 533, generation power, battery power
BATTERY_BLOCK = (1034, 48)  # 1034-1081: battery setpoint, limits, capacity, management mode
# ... and once, to identify the inverter.
IDENTITY_BLOCKS = ((6, 40), (768, 64))  # 6-45: article, serial, versions; 768-831: name, class

# What the simulated inverter answers; other addresses are illegal (exception 2).
SERVED_RANGES: tuple[tuple[int, int], ...] = ((0, 300), (512, 80), (768, 66), (1024, 66))


def _pack32(raw: bytes, word_order: str) -> list[int]:
    high, low = struct.unpack(">2H", raw)
    return [low, high] if word_order == WORD_ORDER_CDAB else [high, low]


def _unpack32(words: list[int], word_order: str) -> bytes:
    first, second = words
    high, low = (second, first) if word_order == WORD_ORDER_CDAB else (first, second)
    return struct.pack(">2H", high, low)


def encode_value(register: KostalRegister, value: Value, word_order: str = WORD_ORDER_CDAB) -> list[int]:
    """The register words of one value; numbers out of the type's range raise ``ValueError``."""
    dtype = register.dtype
    if dtype == "str":
        raw = str(value).encode("ascii", "replace")
        if len(raw) > register.count * 2:
            raise ValueError(f"{register.name}: {value!r} is longer than {register.count * 2} characters")
        return list(struct.unpack(f">{register.count}H", raw.ljust(register.count * 2, b"\0")))
    if isinstance(value, str):
        raise ValueError(f"{register.name}: expected a number, got {value!r}")
    if dtype == "float":
        return _pack32(struct.pack(">f", float(value)), word_order)
    number = round(value)
    limits = {"u16": (0, 0xFFFF), "s16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFF_FFFF)}[dtype]
    if not limits[0] <= number <= limits[1]:
        raise ValueError(f"{register.name}: {value!r} does not fit {dtype}")
    if dtype == "u32":
        return _pack32(struct.pack(">I", number), word_order)
    return [number & 0xFFFF]


def decode_value(register: KostalRegister, words: list[int], word_order: str = WORD_ORDER_CDAB) -> Value:
    if len(words) != register.count:
        raise ValueError(f"{register.name}: needs {register.count} registers, got {len(words)}")
    dtype = register.dtype
    if dtype == "str":
        raw = struct.pack(f">{register.count}H", *words)
        return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    if dtype == "float":
        return float(struct.unpack(">f", _unpack32(words, word_order))[0])
    if dtype == "u32":
        return int(struct.unpack(">I", _unpack32(words, word_order))[0])
    if dtype == "s16":
        return words[0] - 0x10000 if words[0] & 0x8000 else words[0]
    return words[0]


def encode(values: Mapping[str, Value], word_order: str = WORD_ORDER_CDAB) -> dict[int, int]:
    """{address: word} of the named registers."""
    image: dict[int, int] = {}
    for name, value in values.items():
        register = BY_NAME[name]
        for index, word in enumerate(encode_value(register, value, word_order)):
            image[register.address + index] = word
    return image


def decode(
    image: Mapping[int, int], names: Iterable[str] | None = None, word_order: str = WORD_ORDER_CDAB
) -> dict[str, Value]:
    """The named registers (default: every register wholly in ``image``) in engineering units."""
    chosen = [BY_NAME[name] for name in names] if names is not None else REGISTERS
    values: dict[str, Value] = {}
    for register in chosen:
        addresses = range(register.address, register.end)
        if names is None and not all(a in image for a in addresses):
            continue
        values[register.name] = decode_value(register, [image[a] for a in addresses], word_order)
    return values


def blocks_to_image(blocks: Mapping[int, list[int]]) -> dict[int, int]:
    return {start + i: word for start, words in blocks.items() for i, word in enumerate(words)}


def scaled(raw: float, scale_factor: float) -> float:
    """A value with its scale factor register (531/532, 575/576): raw x 10^SF."""
    return float(raw) * 10.0 ** int(scale_factor)
