"""RS485 interfaces (MB-3): presets, CRC and the timing of a Modbus RTU line. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

INTERFACES = ("A", "B")
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
DATA_BITS = (7, 8)
PARITIES = ("N", "E", "O")
STOP_BITS = (1, 2)
SLAVE = "slave"
MASTER = "master"
MODES = (SLAVE, MASTER)


@dataclass(frozen=True, slots=True)
class LineSettings:
    mode: str
    address: int
    baudrate: int
    bytesize: int
    parity: str
    stopbits: int


PRESETS: dict[str, LineSettings] = {
    "plenticore": LineSettings(SLAVE, 1, 38400, 8, "N", 2),  # PIKO IQ / PLENTICORE, factory default on A
    "piko_mp_plus": LineSettings(SLAVE, 247, 19200, 8, "E", 1),  # factory default on B
    "piko_ci": LineSettings(SLAVE, 1, 19200, 8, "N", 2),
}
USER_DEFINED = "user"
DEFAULT_PRESET = {"A": "plenticore", "B": "piko_mp_plus"}


def preset_of(settings: LineSettings) -> str:
    """The preset these settings match, or ``user``."""
    for name, preset in PRESETS.items():
        if preset == settings:
            return name
    return USER_DEFINED


_CRC_TABLE: list[int] = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0xA001 if _crc & 1 else _crc >> 1
    _CRC_TABLE.append(_crc)


def crc16(frame: bytes) -> int:
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in frame:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame).to_bytes(2, "little")


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")


def bits_per_char(bytesize: int, parity: str, stopbits: int) -> int:
    """Start bit, data bits, parity bit (if any), stop bits."""
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


def char_time_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 2) -> float:
    return bits_per_char(bytesize, parity, stopbits) / baudrate


def silent_interval_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 2) -> float:
    """t3.5: the silence that ends a frame; fixed 1.75 ms above 19200 baud (Modbus serial line spec)."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * char_time_s(baudrate, bytesize, parity, stopbits)


def line_time_s(
    request_bytes: int, response_bytes: int, baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 2
) -> float:
    """Wire time of one transaction: both frames plus the t3.5 gap after each."""
    chars = request_bytes + response_bytes
    return chars * char_time_s(baudrate, bytesize, parity, stopbits) + 2 * silent_interval_s(
        baudrate, bytesize, parity, stopbits
    )
