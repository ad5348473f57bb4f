"""The simulated ENECTOR's Modbus RTU server: the box of the model (:mod:`simulator.enector`) as
register reads and writes (:class:`EnectorRegisters`), and :class:`RtuSlave`, which answers RTU
request frames for it, only at the box's current address (which changes at run time), silent for
other addresses as a device on a shared line must be. The line itself (several boxes on one port,
byte time at the baud rate, collisions, CRC errors, faults per device) is :mod:`simulator.rtu_line`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from simulator.rtu_line import with_crc
from simulator.server import Fault, FaultKind
from wallbox import registers as reg

if TYPE_CHECKING:
    from simulator.model import PlantModel

log = logging.getLogger(__name__)


class ModbusReply(Exception):
    """A request the box answers with a Modbus exception ``code``."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE, DEVICE_BUSY = 1, 2, 3, 4, 6


# --- registers over the model ---------------------------------------------------------------
class EnectorRegisters:
    """The box named ``name`` of the model, as register reads and writes."""

    def __init__(self, model: PlantModel, name: str) -> None:
        self.model = model
        self.name = name
        self._revision = -1
        self._image: Mapping[int, int] = {}

    @property
    def address(self) -> int:
        return self.model.wallbox_address(self.name)

    def _vendor_block_missing(self, start: int, count: int) -> bool:
        vendor = range(reg.VENDOR_BLOCK_START, reg.FIRMWARE_CHUNK + 1)
        wanted = range(start, start + count)
        overlaps = wanted.start < vendor.stop and vendor.start < wanted.stop
        return overlaps and not self.model.wallbox_config(self.name).vendor_block

    def read(self, start: int, count: int) -> list[int]:
        if (
            not 1 <= count <= reg.MAX_READ_COUNT
            or not reg.is_readable(start, count)
            or self._vendor_block_missing(start, count)
        ):
            raise ModbusReply(ILLEGAL_ADDRESS, f"no registers {start:#06x}+{count}")
        revision = self.model.revision
        if revision != self._revision:
            self._image = self.model.wallbox_image(self.name)
            self._revision = self.model.revision
        image = self._image
        return [image.get(start + i, 0) for i in range(count)]

    def write(self, start: int, words: Sequence[int]) -> None:
        if self._vendor_block_missing(start, len(words)):
            raise ModbusReply(ILLEGAL_ADDRESS, f"no registers {start:#06x}+{len(words)}")
        self.model.wallbox_write(self.name, start, words)


# --- Modbus RTU (framing, checksum and the line: simulator.rtu_line) --------------------------
class SlaveRegisters(Protocol):
    """What :class:`RtuSlave` answers for: a box's registers, or any source on a line
    (:mod:`simulator.line_slave`); ``read``/``write`` raise :class:`ModbusReply` to refuse."""

    name: str

    @property
    def address(self) -> int: ...

    def read(self, start: int, count: int) -> list[int]: ...

    def write(self, start: int, words: Sequence[int]) -> None: ...


class RtuSlave:
    """Answers one request frame for a register source at its current address."""

    def __init__(self, source: SlaveRegisters) -> None:
        self.source = source
        self.fault = Fault()

    @property
    def address(self) -> int:
        return self.source.address

    def answer(self, frame: bytes) -> bytes | None:
        unit, function = frame[0], frame[1]
        if unit != self.source.address:
            return None  # another device on the line (or a broadcast, which gets no answer)
        try:
            pdu = self._pdu(function, frame[2:-2])
        except ModbusReply as exc:
            log.info("%s: exception %d: %s", self.source.name, exc.code, exc)
            pdu = bytes((function | 0x80, exc.code))
        return with_crc(bytes((unit,)) + pdu)

    def _pdu(self, function: int, data: bytes) -> bytes:
        fault = self.fault.kind
        if function in (3, 4):
            if len(data) != 4:
                raise ModbusReply(ILLEGAL_VALUE, "a read takes start and count")
            start, count = struct.unpack(">HH", data)
            if fault is FaultKind.EXCEPTION:
                raise ModbusReply(DEVICE_FAILURE, "fault injected")
            words = self.source.read(start, count)
            if fault is FaultKind.GARBAGE:
                words = words[: len(words) // 2] if len(words) > 1 else [*words, 0xFFFF]
            return bytes((function, 2 * len(words))) + struct.pack(f">{len(words)}H", *words)
        if function == 6:
            if len(data) != 4:
                raise ModbusReply(ILLEGAL_VALUE, "a single write takes address and value")
            address, value = struct.unpack(">HH", data)
            self.source.write(address, [value])
            return bytes((function,)) + data
        if function == 16:
            if len(data) < 5:
                raise ModbusReply(ILLEGAL_VALUE, "a short multiple write")
            address, count, byte_count = struct.unpack(">HHB", data[:5])
            values = data[5:]
            if not 1 <= count <= reg.MAX_WRITE_COUNT or byte_count != 2 * count or len(values) != byte_count:
                raise ModbusReply(ILLEGAL_VALUE, f"{count} registers in {byte_count} bytes do not fit")
            self.source.write(address, list(struct.unpack(f">{count}H", values)))
            return bytes((function,)) + data[:4]
        raise ModbusReply(ILLEGAL_FUNCTION, f"function {function} is not supported")
