"""A Modbus TCP device server that serves a register image, with faults injectable at run time.

Generic over the device: a :class:`RegisterSource` says which addresses exist and what they
hold right now. The grid meter is one source (:mod:`simulator.grid_meter`); inverters,
batteries and wallboxes plug in the same way, each on a port of its own.

The datastore is pymodbus' ``SimDevice`` with an async ``action``: it fills each read from the
current image, so nothing has to be pushed into the server when the model moves on. A source
with a ``write`` hook (:class:`WritableRegisterSource`, e.g. an inverter) receives every FC06 and
FC16 write; a source without one is read-only and answers writes with exception 2.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore
from pymodbus.simulator.simutils import SimUtils

log = logging.getLogger(__name__)


class FaultKind(enum.StrEnum):
    NONE = "none"
    OFFLINE = "offline"  # the port closes: open connections drop, new ones are refused
    SLOW = "slow"  # every response waits delay_s first
    EXCEPTION = "exception"  # every request answers exception ``code`` (default 4, server device failure)
    GARBAGE = "garbage"  # well-formed responses with the wrong number of registers
    # Damaged frames (byte level, every answer): see GARBLED_KINDS.
    WRONG_LENGTH = "wrong_length"  # the PDU's byte count disagrees with the data that follows
    TRUNCATED = "truncated"  # the frame loses its last bytes (the header still announces them)
    OVERSIZED = "oversized"  # a read answer carries more registers than asked (consistently framed)
    WRONG_UNIT = "wrong_unit"  # the answer comes from another unit id
    BAD_CRC = "bad_crc"  # RTU framing only: the CRC does not match
    CORRUPT = "corrupt"  # a read answer's data bytes are noise (framing intact): values, but no measurements


# Faults that damage the bytes of every answer on the wire, not what the answer says.
GARBLED_KINDS = frozenset(
    {
        FaultKind.WRONG_LENGTH,
        FaultKind.TRUNCATED,
        FaultKind.OVERSIZED,
        FaultKind.WRONG_UNIT,
        FaultKind.BAD_CRC,
        FaultKind.CORRUPT,
    }
)
# Modbus exception codes a device may answer (1-4 standard, 5/6 acknowledge/busy, 10/11 gateway).
EXCEPTION_CODES = frozenset({1, 2, 3, 4, 5, 6, 8, 10, 11})


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind = FaultKind.NONE
    delay_s: float = 0.0
    code: int = int(ExcCodes.DEVICE_FAILURE)  # for "exception"

    @classmethod
    def parse(cls, kind: str | FaultKind, delay_s: float = 0.0, code: int | None = None) -> Fault:
        try:
            fault_kind = FaultKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault kind {kind!r}; known: {known}") from None
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        if code is not None and fault_kind is not FaultKind.EXCEPTION:
            raise ValueError(f"an exception code goes only with the fault 'exception', not {fault_kind.value!r}")
        if code is not None and code not in EXCEPTION_CODES:
            known_codes = ", ".join(map(str, sorted(EXCEPTION_CODES)))
            raise ValueError(f"exception code must be one of {known_codes}, got {code}")
        return cls(fault_kind, float(delay_s), int(code) if code is not None else int(ExcCodes.DEVICE_FAILURE))

    @classmethod
    def from_text(cls, text: str) -> Fault:
        """``KIND`` or ``KIND:ARG`` as on the command line: ``slow:5`` (seconds), ``exception:2`` (code)."""
        kind, _, arg = text.partition(":")
        if not arg:
            return cls.parse(kind)
        try:
            value = float(arg) if kind == FaultKind.SLOW else int(arg)
        except ValueError:
            raise ValueError(f"fault {text!r}: {arg!r} is not a number") from None
        if kind == FaultKind.SLOW:
            return cls.parse(kind, delay_s=value)
        if kind == FaultKind.EXCEPTION:
            return cls.parse(kind, code=int(value))
        raise ValueError(f"fault {kind!r} takes no argument, got {text!r}")


def parse_fault_spec(text: str) -> tuple[str, Fault]:
    """``DEVICE=KIND[:ARG]`` (``meter=wrong_unit``, ``roof south=exception:2``, ``garage=slow:1.5``)."""
    device, sep, spec = text.strip().rpartition("=")
    if not sep or not device.strip() or not spec.strip():
        raise ValueError(f"{text!r}: expected DEVICE=KIND[:ARG], e.g. meter=wrong_unit")
    try:
        return device.strip(), Fault.from_text(spec.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def parse_fault_lines(text: str) -> dict[str, Fault]:
    """A fault file: one ``DEVICE=KIND[:ARG]`` per line; blank lines and ``#`` comments ignored."""
    faults: dict[str, Fault] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            device, fault = parse_fault_spec(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if device in faults:
            raise ValueError(f"line {number}: {device!r} has a fault already")
        faults[device] = fault
    return faults


class RegisterSource(Protocol):
    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        """(first address, register count) of every readable block; other addresses are illegal."""
        ...

    def image(self) -> Mapping[int, int]:
        """The current {address: word} of every address in ``ranges``."""
        ...


# A source may also offer ``words(address, count) -> list[int]``: the words of those addresses
# exactly as ``image()`` has them (0 where it has none), for a request within ``ranges``. The
# server then reads through it, so a source can build just the part of its image a request needs.


class WritableRegisterSource(RegisterSource, Protocol):
    def write(self, address: int, words: Sequence[int]) -> bool:
        """Apply a write of ``words`` from ``address`` on; ``False`` if those addresses take no
        write (answered with exception 2), ``ValueError`` for a value out of range (exception 3)."""
        ...


WRITE_FUNCTION_CODES = frozenset({6, 16})


@dataclass(slots=True)
class ClientCount:
    """The client connections of one device server: open now, the most ever open at once, and
    how many came. Two clients at once means two masters drive the device (a fleet of workers
    must never do that: docs/operations.md)."""

    clients: int = 0
    max_clients: int = 0
    connects: int = 0

    def connected(self, up: bool) -> None:
        if up:
            self.clients += 1
            self.connects += 1
            self.max_clients = max(self.max_clients, self.clients)
        else:
            self.clients = max(0, self.clients - 1)

    def as_dict(self) -> dict[str, int]:
        return {"clients": self.clients, "max_clients": self.max_clients, "connects": self.connects}


class ModbusDeviceServer:
    """One device on one TCP port, answering on the given unit ids."""

    def __init__(
        self,
        name: str,
        source: RegisterSource,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_ids: Sequence[int] = (1,),
        framer: FramerType = FramerType.SOCKET,
    ) -> None:
        self.name = name
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._source = source
        self._unit_ids = tuple(unit_ids)
        self._framer = framer
        self._server: ModbusTcpServer | None = None
        self.fault = Fault()
        self.client_count = ClientCount()

    @property
    def port(self) -> int:
        """The port actually bound (useful when asked for port 0)."""
        if self._bound_port is None:
            raise RuntimeError(f"{self.name} server has not started")
        return self._bound_port

    async def start(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        await self._close()

    async def set_fault(self, fault: Fault) -> None:
        if fault.kind is FaultKind.BAD_CRC and self._framer is not FramerType.RTU:
            raise ValueError(f"{self.name}: bad_crc needs RTU framing; Modbus TCP frames carry no CRC")
        previous, self.fault = self.fault, fault
        if fault.kind is FaultKind.OFFLINE and previous.kind is not FaultKind.OFFLINE:
            await self._close()
        elif fault.kind is not FaultKind.OFFLINE and previous.kind is FaultKind.OFFLINE:
            await self._listen()
        log.info("%s: fault %s%s", self.name, fault.kind.value, f" ({fault.delay_s} s)" if fault.delay_s else "")

    async def _listen(self) -> None:
        # Coming back from "offline" reuses the port clients know.
        port = self._bound_port if self._bound_port is not None else self._requested_port
        server = ModbusTcpServer(
            self._devices(),
            address=(self.host, port),
            framer=self._framer,
            trace_pdu=self._trace_pdu,
            trace_packet=self._trace_packet,
            trace_connect=self.client_count.connected,
        )
        # The same devices, answered by the register core below (pymodbus' own checks every
        # register of every request in a Python loop).
        server.context = _RegisterCore(self._devices())
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise OSError(f"{self.name}: cannot listen on {self.host}:{port}") from exc
        self._server = server
        self._bound_port = int(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    def _devices(self) -> list[SimDevice]:
        readonly = not callable(getattr(self._source, "write", None))
        blocks = [
            SimData(start, count=count, values=0, datatype=DataType.REGISTERS, readonly=readonly)
            for start, count in self._source.ranges
        ]
        devices = [SimDevice(unit_id, simdata=list(blocks), action=self._action) for unit_id in self._unit_ids]
        # Unit id 0 stands for every other id in pymodbus: answer those like a gateway without that device.
        if 0 not in self._unit_ids:
            devices.append(SimDevice(0, simdata=list(blocks), action=self._unknown_unit))
        return devices

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        fault = self.fault
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay_s)
        if fault.kind is FaultKind.EXCEPTION:
            return ExcCodes(fault.code)
        if set_values is not None:
            return self._write(function_code, address, set_values)
        offset = address - start_address
        words = getattr(self._source, "words", None)
        if words is not None:
            registers[offset : offset + count] = words(address, count)
            return None
        image = self._source.image()
        registers[offset : offset + count] = list(map(image.get, range(address, address + count), repeat(0, count)))
        return None

    def _write(self, function_code: int, address: int, values: list[int] | list[bool]) -> ExcCodes | None:
        write = getattr(self._source, "write", None)
        if function_code not in WRITE_FUNCTION_CODES or write is None:
            return ExcCodes.ILLEGAL_FUNCTION if write is not None else ExcCodes.ILLEGAL_ADDRESS
        try:
            accepted = write(address, [int(v) for v in values])
        except ValueError as exc:
            log.info("%s: write of %s at %d refused: %s", self.name, list(values), address, exc)
            return ExcCodes.ILLEGAL_VALUE
        return None if accepted else ExcCodes.ILLEGAL_ADDRESS

    async def _unknown_unit(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        return ExcCodes.GATEWAY_NO_RESPONSE

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """Mangle outgoing register responses while the fault is "garbage"; a read answer goes
        out through :class:`_LeanReadResponse` (the same bytes, packed at once)."""
        registers = getattr(pdu, "registers", None)
        if sending and self.fault.kind is FaultKind.GARBAGE and registers:
            # Half the registers asked for, or one too many when only one was asked for.
            pdu.registers = registers[: len(registers) // 2] if len(registers) > 1 else [*registers, 0xFFFF]
        if sending and type(pdu) is ReadHoldingRegistersResponse:
            return _LeanReadResponse(registers=pdu.registers, dev_id=pdu.dev_id, transaction_id=pdu.transaction_id)
        return pdu

    def _trace_packet(self, sending: bool, packet: bytes) -> bytes:
        """Damage every outgoing frame while a garbling fault is set."""
        kind = self.fault.kind
        if not sending or kind not in GARBLED_KINDS:
            return packet
        return garble(packet, kind, rtu=self._framer is FramerType.RTU)


# pymodbus' register function codes (SimRuntime._fx_mapper "h" and "i"); a device with its blocks
# in one list serves them all from its one block "x".
_REGISTER_FUNCTION_CODES = frozenset({3, 4, 6, 16, 22, 23})
_CoreEntry = tuple[SimAction | None, int, int, list[int], list[int], list[int]]


class _RegisterCore(SimCore):
    """pymodbus' :class:`SimCore` with register reads and writes checked in constant time.

    The same answers as ``SimRuntime.get_reg_block``: a request reaching outside the device's
    block, or touching an address between its ranges (a write also one that is read-only), is
    exception 2 before the action runs; then the action (whose exception code wins), the written
    values stored, the registers returned. pymodbus checks the addresses one by one in Python;
    here prefix counts of the invalid and the read-only flags (fixed once the block is built)
    answer the same question with two subtractions. Everything else (bit function codes,
    unknown ones, an empty or odd request) goes to pymodbus' own path unchanged.
    """

    def __init__(self, devices: list[SimDevice]) -> None:
        super().__init__(devices)
        self._entries: dict[int, _CoreEntry] = {}
        for device_id, runtime in self.devices.items():
            block = runtime.block.get("x")
            if block is None:
                continue
            start, size, registers, flags = block
            invalid, readonly = [0], [0]
            for flag in flags:
                invalid.append(invalid[-1] + ((flag & SimUtils.RunTimeFlag_TYPE) == DataType.INVALID))
                readonly.append(readonly[-1] + bool(flag & SimUtils.RunTimeFlag_READONLY))
            self._entries[device_id] = (runtime.action, start, size, registers, invalid, readonly)

    def _entry(self, device_id: int, func_code: int) -> _CoreEntry | None:
        if func_code not in _REGISTER_FUNCTION_CODES:
            return None
        # SimCore answers an unknown unit id with device 0 (a missing one raises in its path).
        return self._entries.get(device_id if device_id in self.devices else 0)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        entry = self._entry(device_id, func_code)
        if entry is None or count < 1:
            return await super().async_getValues(device_id, func_code, address, count)
        return await self._registers(entry, func_code, address, count, None)

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        entry = self._entry(device_id, func_code)
        if entry is None or type(values) is not list or not values:
            return await super().async_setValues(device_id, func_code, address, values)
        result = await self._registers(entry, func_code, address, len(values), values)
        return result if isinstance(result, ExcCodes) else None

    @staticmethod
    async def _registers(
        entry: _CoreEntry, func_code: int, address: int, count: int, values: list[int] | list[bool] | None
    ) -> list[int] | ExcCodes:
        action, start, size, registers, invalid, readonly = entry
        offset = address - start
        end = offset + count
        if offset < 0 or end > size:
            return ExcCodes.ILLEGAL_ADDRESS
        if invalid[end] != invalid[offset] or (values and readonly[end] != readonly[offset]):
            return ExcCodes.ILLEGAL_ADDRESS
        if action and (result := await action(func_code, start, address, count, registers, values)):
            return result
        if values:
            registers[offset:end] = values
        return registers[offset:end]


class _LeanReadResponse(ReadHoldingRegistersResponse):
    """pymodbus' read answer, encoded with one ``struct.pack`` (pymodbus packs and concatenates
    register by register, a measurable share of a replay's CPU)."""

    def encode(self) -> bytes:
        count = len(self.registers)
        return struct.pack(f">B{count}H", 2 * count, *self.registers)


def rtu_crc(data: bytes) -> bytes:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def garble(frame: bytes, kind: FaultKind, *, rtu: bool) -> bytes:
    """``frame`` (a whole Modbus TCP frame with its MBAP header, or an RTU frame with its CRC)
    damaged the way ``kind`` says; every other part of the frame stays consistent, so the
    receiver meets exactly that one fault."""
    if rtu:
        head, pdu = frame[:1], frame[1:-2]
    else:
        head, pdu = frame[:7], frame[7:]

    def framed(unit_head: bytes, body: bytes) -> bytes:
        if rtu:
            return unit_head + body + rtu_crc(unit_head + body)
        # MBAP: transaction id, protocol id, length (unit id + PDU), unit id.
        return unit_head[:4] + (len(body) + 1).to_bytes(2, "big") + unit_head[6:7] + body

    if kind is FaultKind.WRONG_UNIT:
        unit = (head[-1] % 246) + 2  # never the asked id, never 0 (broadcast)
        return framed(head[:-1] + bytes([unit]), pdu)
    if kind is FaultKind.BAD_CRC:
        return frame[:-1] + bytes([frame[-1] ^ 0xFF])
    if kind is FaultKind.TRUNCATED:
        cut = max(1, len(frame) // 3)
        return frame[:-cut]
    is_read_answer = len(pdu) >= 2 and pdu[0] in (3, 4)
    if kind is FaultKind.OVERSIZED:
        if is_read_answer:  # two registers more than asked, byte count and length to match
            data = pdu[2:] + bytes([0xDE, 0xAD, 0xBE, 0xEF])
            return framed(head, pdu[:1] + bytes([len(data) & 0xFF]) + data)
        return framed(head, pdu + bytes([0xDE, 0xAD]))
    if kind is FaultKind.CORRUPT:
        if is_read_answer:  # noise of the same length: every value decodes, none is a measurement
            noise = bytes(
                (0x5A ^ (i * 0x3D + pdu[1]) ^ (0xFF if i % 3 == 0 else 0)) & 0xFF for i in range(len(pdu) - 2)
            )
            return framed(head, pdu[:2] + noise)
        return frame
    if kind is FaultKind.WRONG_LENGTH:
        # A read answer is function code, byte count, data: announce 4 bytes more than follow.
        if is_read_answer:
            return framed(head, pdu[:1] + bytes([(pdu[1] + 4) & 0xFF]) + pdu[2:])
        # Any other answer: the MBAP length (or the RTU frame) two bytes short of its PDU.
        return frame[:4] + (len(pdu) + 3).to_bytes(2, "big") + frame[6:] if not rtu else framed(head, pdu[:-2])
    return frame
