"""The firmware update of a simulated ENECTOR (the vendor block of :mod:`wallbox.registers`):
begin, chunks, commit with CRC-32; the image's first line ``ENECTOR-FW <version>`` names the new
version. The box (:mod:`simulator.enector`) keeps one :class:`FirmwareUpdate` and restarts after
a commit.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from simulator.enector_rtu import ILLEGAL_VALUE, ModbusReply
from wallbox import registers as reg


@dataclass(slots=True)
class FirmwareUpdate:
    """An update under way: what the box received so far."""

    status: int = reg.FW_IDLE
    size: int = 0
    crc32: int = 0
    data: bytearray = field(default_factory=bytearray)


def add_chunk(update: FirmwareUpdate, words: Sequence[int]) -> None:
    """One chunk of the image written to the box's update block."""
    if update.status != reg.FW_RECEIVING:
        raise ModbusReply(ILLEGAL_VALUE, "no firmware update under way")
    try:
        chunk = reg.decode_bytes(words)
    except ValueError as exc:
        raise ModbusReply(ILLEGAL_VALUE, str(exc)) from None
    if len(update.data) + len(chunk) > update.size:
        raise ModbusReply(ILLEGAL_VALUE, "more bytes than the announced size")
    update.data.extend(chunk)


def committed_version(update: FirmwareUpdate) -> str:
    """The version of a complete image at 'commit'; a refused one fails the update."""
    version = image_version(bytes(update.data))
    problem = None
    if len(update.data) != update.size:
        problem = f"received {len(update.data)} of {update.size} bytes"
    elif zlib.crc32(update.data) != update.crc32:
        problem = "CRC-32 mismatch"
    elif version is None:
        problem = "not an ENECTOR firmware image"
    if problem is not None or version is None:
        update.status = reg.FW_FAILED
        raise ModbusReply(ILLEGAL_VALUE, f"firmware rejected: {problem}")
    return version


def image_version(data: bytes) -> str | None:
    if not data.startswith(reg.FIRMWARE_MAGIC):
        return None
    line = data[len(reg.FIRMWARE_MAGIC) :].split(b"\n", 1)[0]
    try:
        version = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return version[:16] if version and version.isprintable() else None


def firmware_image(version: str, payload: bytes = b"") -> bytes:
    """An image the simulated box accepts (for tests and demonstrations)."""
    return reg.FIRMWARE_MAGIC + version.encode("ascii") + b"\n" + payload
