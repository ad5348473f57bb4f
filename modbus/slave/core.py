"""The Modbus slave's request handling, shared by TCP, TLS and RTU: one PDU in, one PDU out.

Function codes: 03 and 04 read the served map (both read the same registers, as the KSEM
does for the 0xA000 block), 06 and 16 write the wallbox control registers. Everything else,
and every malformed request, gets an exception response:

* 01 illegal function: an unknown function code; a write where writes are not allowed (plain
  TCP, RTU); any request from a TLS client certificate that is not accepted.
* 02 illegal data address: a read or write outside one served block.
* 03 illegal data value: a count of 0 or over 125 (123 for writes), a PDU of the wrong length,
  a written value out of range.
* 04 server device failure: the measurement is stale (meter offline, snapshot too old) or the
  write could not be handed on.

No sockets here; the transports frame the PDUs and decide what a wrong unit id means. The one
clock (injectable) releases a wallbox command that has not been written again for
``WALLBOX_COMMAND_TIMEOUT_S``, so the registers read as the control acts.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from energy.config import WALLBOX_COMMAND_TIMEOUT_S
from modbus import registermap, wallbox_control
from modbus.registermap import RegisterImage
from modbus.wallbox_control import WallboxControls

log = logging.getLogger(__name__)

MAX_READ_COUNT = 125
MAX_WRITE_COUNT = 123
READ_CODES = frozenset({3, 4})


class ExceptionCode(IntEnum):
    ILLEGAL_FUNCTION = 1
    ILLEGAL_ADDRESS = 2
    ILLEGAL_VALUE = 3
    DEVICE_FAILURE = 4
    GATEWAY_NO_RESPONSE = 0x0B


@dataclass(frozen=True, slots=True)
class Peer:
    """What the transport knows about who sent a request."""

    may_write: bool = False  # TLS only
    authorized: bool = True  # False while a TLS client certificate is not accepted


PLAIN = Peer()


def exception(function_code: int, code: ExceptionCode) -> bytes:
    return bytes(((function_code | 0x80) & 0xFF, code))


# Hands a validated wallbox command on; returns False if it could not be stored.
CommandSink = Callable[[WallboxControls], bool]


class SlaveCore:
    """Answers requests from the current image; the server swaps the image per snapshot."""

    def __init__(
        self,
        unit_ids: tuple[int, ...] = (1, 71),
        sink: CommandSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit_ids = frozenset(unit_ids)
        self.image: RegisterImage | None = None  # None: stale, reads answer exception 4
        self.controls = WallboxControls()
        self._controls_bytes = struct.pack(">2H", *self.controls.words())
        self._sink = sink
        self._clock = clock
        self._controls_until = 0.0

    def set_controls(self, controls: WallboxControls) -> None:
        """The command in force, held for the timeout from now."""
        self.controls = controls
        self._controls_until = self._clock() + WALLBOX_COMMAND_TIMEOUT_S
        self._controls_bytes = struct.pack(f">{wallbox_control.COUNT}H", *controls.words())

    def _expire_controls(self) -> None:
        if self.controls != WallboxControls() and self._clock() >= self._controls_until:
            self.set_controls(WallboxControls())

    def serves(self, unit_id: int) -> bool:
        return unit_id in self.unit_ids

    def handle(self, pdu: bytes, peer: Peer = PLAIN) -> bytes:
        """The response PDU to a request PDU addressed to a served unit id."""
        if not pdu:
            return exception(0, ExceptionCode.ILLEGAL_FUNCTION)
        function_code = pdu[0]
        if function_code in READ_CODES:
            return self._read(function_code, pdu, peer)
        if function_code in (6, 16):
            return self._write(function_code, pdu, peer)
        return exception(function_code, ExceptionCode.ILLEGAL_FUNCTION)

    def _read(self, function_code: int, pdu: bytes, peer: Peer) -> bytes:
        if not peer.authorized:
            return exception(function_code, ExceptionCode.ILLEGAL_FUNCTION)
        if len(pdu) != 5:
            return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
        address, count = struct.unpack_from(">HH", pdu, 1)
        if not 1 <= count <= MAX_READ_COUNT:
            return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
        if wallbox_control.in_block(address, count):
            self._expire_controls()
            offset = 2 * (address - wallbox_control.BASE)
            return bytes((function_code, 2 * count)) + self._controls_bytes[offset : offset + 2 * count]
        image = self.image
        if image is None:
            if not registermap.is_served(address, count):
                return exception(function_code, ExceptionCode.ILLEGAL_ADDRESS)
            return exception(function_code, ExceptionCode.DEVICE_FAILURE)
        data = image.read(address, count)
        if data is None:
            return exception(function_code, ExceptionCode.ILLEGAL_ADDRESS)
        return bytes((function_code, 2 * count)) + data

    def _write(self, function_code: int, pdu: bytes, peer: Peer) -> bytes:
        if not peer.authorized or not peer.may_write:
            return exception(function_code, ExceptionCode.ILLEGAL_FUNCTION)
        if function_code == 6:
            if len(pdu) != 5:
                return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
            address, value = struct.unpack_from(">HH", pdu, 1)
            values = [value]
            response = pdu
        else:
            if len(pdu) < 6:
                return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
            address, count, byte_count = struct.unpack_from(">HHB", pdu, 1)
            if not 1 <= count <= MAX_WRITE_COUNT or byte_count != 2 * count or len(pdu) != 6 + byte_count:
                return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
            values = list(struct.unpack_from(f">{count}H", pdu, 6))
            response = pdu[:5]
        if not wallbox_control.in_block(address, len(values)):
            return exception(function_code, ExceptionCode.ILLEGAL_ADDRESS)
        self._expire_controls()
        try:
            controls = wallbox_control.apply_write(self.controls, address, values)
        except wallbox_control.InvalidValue as exc:
            log.info("wallbox control write refused: %s", exc)
            return exception(function_code, ExceptionCode.ILLEGAL_VALUE)
        if self._sink is not None and not self._sink(controls):
            return exception(function_code, ExceptionCode.DEVICE_FAILURE)
        self.set_controls(controls)
        return response
