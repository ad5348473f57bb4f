"""The ENECTOR's Modbus RTU register map as data, and the pure encoding of its values.

The KOSTAL ENECTOR AC 3.7/11 and AC 7.4 are MENNEKES AMTRON Compact 2.0s boxes: holding
registers (FC03 to read, FC06 for one register, FC16 for more), 57600 baud 8N2, factory address
50. Floats are IEEE 754 float32 in two registers, high word first (ABCD), which is what boxes in
the field send, whatever older documents say about the word order; texts are ASCII, two
characters per register, padded with NUL or blanks.

The public map has no register for the box's own Modbus address and nothing for a firmware
update. This product defines a *vendor block* from :data:`VENDOR_BLOCK_START` for both (see
docs/devices.md); the simulator implements it. A real box needs MENNEKES' configuration tool
for these two jobs until the vendor documents such registers.

Both the driver (:mod:`wallbox.drivers.enector`) and the simulator (:mod:`simulator.enector`)
use this module, so they cannot disagree about an address or a scaling.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from energy.config import SerialConfig

# --- the line ----------------------------------------------------------------------------------
BAUDRATE = 57600
BYTESIZE = 8
PARITY = "N"
STOPBITS = 2
FACTORY_ADDRESS = 50
MIN_ADDRESS, MAX_ADDRESS = 1, 247
# The most registers one request may read (Modbus: 125) or write (123).
MAX_READ_COUNT = 125
MAX_WRITE_COUNT = 123


def enector_line(port: str) -> SerialConfig:
    """The ENECTOR's line settings on ``port`` (a serial device or ``socket://host:port``)."""
    return SerialConfig(port=port, baudrate=BAUDRATE, bytesize=BYTESIZE, parity=PARITY, stopbits=STOPBITS)


# --- general information -----------------------------------------------------------------------
LAYOUT_VERSION = 0x0000  # U16: 0x0103 = register layout V1.0.3
FIRMWARE_VERSION = 0x0001  # ASCII, 8 registers
FIRMWARE_REGISTERS = 8
SERIAL_NUMBER = 0x0013  # ASCII, 8 registers
SERIAL_REGISTERS = 8

# --- status ------------------------------------------------------------------------------------
EVSE_STATE = 0x0100  # U16 0..7, energy.devices.EVSE_*
AUTHORIZATION_STATUS = 0x0101
DOWNGRADE_STATUS = 0x0102
PHASE_ROTATION = 0x0103
CP_STATE = 0x0108
SIGNALED_CURRENT = 0x0114  # float, A

# --- configuration -----------------------------------------------------------------------------
DOWNGRADE_CURRENT = 0x0300  # float, A
CHARGING_CURRENT_EM = 0x0302  # float RW, A: 0 = no limit, 0.01-5.99 = 0 A, 6-32 A
MAX_CURRENT_HOUSE = 0x0304  # float, A: set by the DIP switches for the house installation
MAX_CURRENT_EVSE = 0x0306  # float, A
PHASE_SWITCHING_MODE = 0x030A
PHASE_OPTIONS_HW = 0x030C  # 0 1-phase only, 1 3-phase only, 2 switchable
MASTER_LOST_FALLBACK_CURRENT = 0x030E  # U16: 0 disabled, 1 pause, 6-32 A
GRID_PHASES_CONNECTED = 0x0311  # 0 L1 only, 2 L1-L3

# --- output measurements -----------------------------------------------------------------------
CURRENT_L1 = 0x0500  # float, A; L2 at +2, L3 at +4
VOLTAGE_L1 = 0x0506  # float, V
POWER_L1 = 0x050C  # float, W
POWER_TOTAL = 0x0512  # float, W

# --- settings ----------------------------------------------------------------------------------
FALLBACK_CURRENT_SETTING = 0x073A  # U16 RW: what 0x030E reports

# --- input measurements ------------------------------------------------------------------------
TEMPERATURE = 0x0900  # float, degrees C

# --- charging session --------------------------------------------------------------------------
SESSION_MAX_CURRENT = 0x0B00  # float, A
SESSION_ENERGY = 0x0B02  # float, kWh
SESSION_DURATION = 0x0B04  # U32, s
DETECTED_EV_PHASES = 0x0B06  # U16 0..3

# --- functions ---------------------------------------------------------------------------------
HEARTBEAT = 0x0D00  # U16 W (FC06): HEARTBEAT_VALUE at least every 10 s
HEARTBEAT_VALUE = 0x55AA
CABLE_LOCK = 0x0D02
SOLAR_CHARGING_MODE = 0x0D03
REQUESTED_PHASES = 0x0D04  # U16 RW: 0 all phases, 1 force 1-phase
CHARGING_RELEASE = 0x0D05  # U16 RW: 0 relays open, 1 charging allowed
LOCK_EVSE = 0x0D06
SYSTEM_RESTART = 0x0D19  # U16 W: 0xBB restarts (idle only)
RESTART_VALUE = 0xBB

# --- diagnostics -------------------------------------------------------------------------------
ERROR_CODE = 0x0E00  # U16: 0 none
FALLBACK_ACTIVE = 0x0E01  # U16: 1 = master lost, fallback current in force
SWITCHED_PHASES = 0x0E02  # U16: 0 all phases, 1 one phase

# --- statistics --------------------------------------------------------------------------------
TOTAL_ENERGY = 0x1000  # float, kWh
SESSIONS_TOTAL = 0x1002  # U32

# --- the vendor block (defined by this product; see the module docstring) ------------------------
VENDOR_BLOCK_START = 0x2000
MODBUS_ADDRESS = 0x2000  # U16 RW 1..247: the box answers at the new address after the response
HARDWARE_VERSION = 0x2001  # U16: e.g. 3 -> "0003"
FIRMWARE_UPDATE_CONTROL = 0x2010  # U16 W: 1 begin, 2 commit (check, install, restart), 0 abort
FIRMWARE_UPDATE_STATUS = 0x2011  # U16: FW_* below
FIRMWARE_SIZE = 0x2012  # U32 RW: bytes of the image, written before "begin"
FIRMWARE_RECEIVED = 0x2014  # U32: bytes received so far
FIRMWARE_CRC32 = 0x2016  # U32 RW: CRC-32 (zlib) of the whole image, written before "commit"
FIRMWARE_CHUNK = 0x2020  # FC16: [byte count, data words...]; appended at FIRMWARE_RECEIVED
FIRMWARE_CHUNK_MAX_BYTES = (MAX_WRITE_COUNT - 1) * 2
FW_IDLE, FW_RECEIVING, FW_INSTALLED, FW_FAILED = 0, 1, 2, 3
FW_BEGIN, FW_COMMIT, FW_ABORT = 1, 2, 0
VENDOR_BLOCK_COUNT = 0x18
FIRMWARE_CHUNK_COUNT = MAX_WRITE_COUNT
# The image format the simulated box accepts: a first line naming the version.
FIRMWARE_MAGIC = b"ENECTOR-FW "
MAX_FIRMWARE_BYTES = 8 * 1024 * 1024

# Event of a vehicle that needs more current than the box offers (WB-10).
ERROR_EV_OUT_OF_DUTY_RANGE = 2011
ERROR_TEXTS = {ERROR_EV_OUT_OF_DUTY_RANGE: "CP EV out of signaled duty range"}

# What one read of the box's state covers: (first address, register count), few requests.
STATE_BLOCKS: tuple[tuple[int, int], ...] = (
    (EVSE_STATE, 0x16),  # 0x0100-0x0115: state, CP state, signaled current
    (DOWNGRADE_CURRENT, 0x12),  # 0x0300-0x0311: limit, maximum currents, phase options, fallback
    (CURRENT_L1, 0x14),  # 0x0500-0x0513: currents, voltages, powers
    (SESSION_MAX_CURRENT, 0x07),  # 0x0B00-0x0B06: the session
    (CABLE_LOCK, 0x05),  # 0x0D02-0x0D06: requested phases, release, lock
    (ERROR_CODE, 0x03),  # 0x0E00-0x0E02: error, fallback, switched phases
    (TOTAL_ENERGY, 0x04),  # 0x1000-0x1003
)
# What changes by itself between two cycles (the box's and the car's doing, not the manager's):
# state, currents, voltages, powers. A guard pass reads only these of a released box.
LIVE_BLOCKS: tuple[tuple[int, int], ...] = (STATE_BLOCKS[0], STATE_BLOCKS[2])
INFO_BLOCKS: tuple[tuple[int, int], ...] = (
    (LAYOUT_VERSION, 1 + FIRMWARE_REGISTERS),
    (SERIAL_NUMBER, SERIAL_REGISTERS),
    (MODBUS_ADDRESS, 2),
)
# Every address the box answers a read for: the blocks above and the few registers beside them.
READABLE_BLOCKS: tuple[tuple[int, int], ...] = (
    (LAYOUT_VERSION, SERIAL_NUMBER + SERIAL_REGISTERS),
    *STATE_BLOCKS[:1],
    (DOWNGRADE_CURRENT, 0x15),
    *STATE_BLOCKS[2:4],
    (FALLBACK_CURRENT_SETTING, 1),
    (TEMPERATURE, 2),
    *STATE_BLOCKS[4:],
    (VENDOR_BLOCK_START, VENDOR_BLOCK_COUNT),
)


def is_readable(start: int, count: int) -> bool:
    return any(first <= start and start + count <= first + size for first, size in READABLE_BLOCKS)


# --- value encoding ----------------------------------------------------------------------------
def encode_float(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def decode_float(words: Sequence[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0]
    return value


def encode_u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def decode_u32(words: Sequence[int]) -> int:
    return (words[0] << 16) | words[1]


def encode_text(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii", "replace")[: registers * 2].ljust(registers * 2, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, len(raw), 2)]


def decode_text(words: Sequence[int]) -> str:
    raw = b"".join(bytes(((w >> 8) & 0xFF, w & 0xFF)) for w in words)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def encode_bytes(data: bytes) -> list[int]:
    """A firmware chunk as [byte count, data words...] (an odd last byte padded with 0)."""
    padded = data + b"\0" * (len(data) % 2)
    return [len(data), *((padded[i] << 8) | padded[i + 1] for i in range(0, len(padded), 2))]


def decode_bytes(words: Sequence[int]) -> bytes:
    """The inverse of :func:`encode_bytes`; ``ValueError`` if the count does not fit the words."""
    if not words:
        raise ValueError("an empty chunk")
    count = words[0]
    if count > 2 * (len(words) - 1) or count < 2 * (len(words) - 1) - 1:
        raise ValueError(f"the chunk says {count} bytes but carries {len(words) - 1} registers")
    raw = b"".join(bytes(((w >> 8) & 0xFF, w & 0xFF)) for w in words[1:])
    return raw[:count]


# --- the state of a box, decoded ----------------------------------------------------------------
class ImplausibleValue(ValueError):
    """A register value no box sends: the frame was damaged or the device is not an ENECTOR."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxState:
    """One read of the state registers, in SI units (energies in Wh)."""

    evse_state: int
    cp_state: int
    signaled_current_a: float
    current_limit_a: float  # as written by the manager: 0 = no limit
    max_current_house_a: float
    max_current_evse_a: float
    phase_options: int
    fallback_current_setting: int
    grid_phases_connected: int
    phase_currents_a: tuple[float, float, float]
    phase_voltages_v: tuple[float, float, float]
    phase_powers_w: tuple[float, float, float]
    power_w: float
    session_energy_wh: float
    session_duration_s: int
    detected_vehicle_phases: int
    requested_phases: int  # 0 all, 1 single
    released: bool
    locked: bool
    error_code: int
    fallback_active: bool
    switched_phases: int  # 0 all, 1 single
    total_energy_wh: float
    sessions_total: int = 0


def _float_at(image: Mapping[int, int], address: int, name: str, low: float, high: float) -> float:
    value = decode_float((image[address], image[address + 1]))
    if not math.isfinite(value) or not low <= value <= high:
        raise ImplausibleValue(f"{name} {value!r} (register 0x{address:04X}) is outside {low:g}..{high:g}")
    return value


def _u16_at(image: Mapping[int, int], address: int, name: str, allowed: range | tuple[int, ...]) -> int:
    value = image[address]
    if value not in allowed:
        raise ImplausibleValue(f"{name} {value} (register 0x{address:04X}) is not a known value")
    return value


def decode_state(image: Mapping[int, int]) -> BoxState:
    """The state from the words of :data:`STATE_BLOCKS`; :class:`ImplausibleValue` for a value
    out of its range (a current of 1e9 A is a damaged frame, not a measurement)."""
    try:
        return _decode_state(image)
    except KeyError as exc:
        raise ImplausibleValue(f"register 0x{exc.args[0]:04X} missing from the read") from None


def _decode_state(image: Mapping[int, int]) -> BoxState:
    currents = tuple(_float_at(image, CURRENT_L1 + 2 * k, f"current L{k + 1}", 0.0, 100.0) for k in range(3))
    voltages = tuple(_float_at(image, VOLTAGE_L1 + 2 * k, f"voltage L{k + 1}", 0.0, 500.0) for k in range(3))
    powers = tuple(_float_at(image, POWER_L1 + 2 * k, f"power L{k + 1}", -30_000.0, 30_000.0) for k in range(3))
    return BoxState(
        evse_state=_u16_at(image, EVSE_STATE, "EVSE state", range(8)),
        cp_state=image[CP_STATE],
        signaled_current_a=_float_at(image, SIGNALED_CURRENT, "signaled current", 0.0, 100.0),
        current_limit_a=_float_at(image, CHARGING_CURRENT_EM, "charging current limit", 0.0, 100.0),
        max_current_house_a=_float_at(image, MAX_CURRENT_HOUSE, "maximum house current", 0.0, 100.0),
        max_current_evse_a=_float_at(image, MAX_CURRENT_EVSE, "maximum EVSE current", 0.0, 100.0),
        phase_options=_u16_at(image, PHASE_OPTIONS_HW, "phase options", range(3)),
        fallback_current_setting=_u16_at(image, MASTER_LOST_FALLBACK_CURRENT, "fallback current", range(33)),
        grid_phases_connected=_u16_at(image, GRID_PHASES_CONNECTED, "grid phases connected", (0, 2)),
        phase_currents_a=(currents[0], currents[1], currents[2]),
        phase_voltages_v=(voltages[0], voltages[1], voltages[2]),
        phase_powers_w=(powers[0], powers[1], powers[2]),
        power_w=_float_at(image, POWER_TOTAL, "total power", -90_000.0, 90_000.0),
        session_energy_wh=_float_at(image, SESSION_ENERGY, "session energy", 0.0, 1e6) * 1000.0,
        session_duration_s=decode_u32((image[SESSION_DURATION], image[SESSION_DURATION + 1])),
        detected_vehicle_phases=_u16_at(image, DETECTED_EV_PHASES, "detected vehicle phases", range(4)),
        requested_phases=_u16_at(image, REQUESTED_PHASES, "requested phases", (0, 1)),
        released=bool(_u16_at(image, CHARGING_RELEASE, "charging release", (0, 1))),
        locked=bool(_u16_at(image, LOCK_EVSE, "lock", (0, 1))),
        error_code=image[ERROR_CODE],
        fallback_active=bool(_u16_at(image, FALLBACK_ACTIVE, "fallback state", (0, 1))),
        switched_phases=_u16_at(image, SWITCHED_PHASES, "switched phases", (0, 1)),
        total_energy_wh=_float_at(image, TOTAL_ENERGY, "total energy", 0.0, 1e9) * 1000.0,
        sessions_total=decode_u32((image[SESSIONS_TOTAL], image[SESSIONS_TOTAL + 1])),
    )


def encode_state(state: BoxState) -> dict[int, int]:
    """The words of :data:`STATE_BLOCKS` for ``state`` (the simulator's side)."""
    image = {start + i: 0 for start, count in STATE_BLOCKS for i in range(count)}

    def put_float(address: int, value: float) -> None:
        image[address], image[address + 1] = encode_float(value)

    image[EVSE_STATE] = state.evse_state
    image[CP_STATE] = state.cp_state
    put_float(SIGNALED_CURRENT, state.signaled_current_a)
    put_float(DOWNGRADE_CURRENT, state.signaled_current_a)
    put_float(CHARGING_CURRENT_EM, state.current_limit_a)
    put_float(MAX_CURRENT_HOUSE, state.max_current_house_a)
    put_float(MAX_CURRENT_EVSE, state.max_current_evse_a)
    image[PHASE_SWITCHING_MODE] = 2 if state.phase_options == 2 else 0
    image[PHASE_OPTIONS_HW] = state.phase_options
    image[MASTER_LOST_FALLBACK_CURRENT] = state.fallback_current_setting
    image[GRID_PHASES_CONNECTED] = state.grid_phases_connected
    for k in range(3):
        put_float(CURRENT_L1 + 2 * k, state.phase_currents_a[k])
        put_float(VOLTAGE_L1 + 2 * k, state.phase_voltages_v[k])
        put_float(POWER_L1 + 2 * k, state.phase_powers_w[k])
    put_float(POWER_TOTAL, state.power_w)
    put_float(SESSION_MAX_CURRENT, state.max_current_evse_a)
    put_float(SESSION_ENERGY, state.session_energy_wh / 1000.0)
    image[SESSION_DURATION], image[SESSION_DURATION + 1] = encode_u32(state.session_duration_s)
    image[DETECTED_EV_PHASES] = state.detected_vehicle_phases
    image[REQUESTED_PHASES] = state.requested_phases
    image[CHARGING_RELEASE] = int(state.released)
    image[LOCK_EVSE] = int(state.locked)
    image[ERROR_CODE] = state.error_code
    image[FALLBACK_ACTIVE] = int(state.fallback_active)
    image[SWITCHED_PHASES] = state.switched_phases
    put_float(TOTAL_ENERGY, state.total_energy_wh / 1000.0)
    image[SESSIONS_TOTAL], image[SESSIONS_TOTAL + 1] = encode_u32(state.sessions_total)
    return image
