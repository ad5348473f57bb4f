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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

log = logging.getLogger(__name__)


class FaultKind(enum.StrEnum):
    NONE = "none"
    OFFLINE = "offline"  # the port closes: open connections drop, new ones are refused
    SLOW = "slow"  # every response waits delay_s first
    EXCEPTION = "exception"  # every read answers exception 4, SERVER_DEVICE_FAILURE
    GARBAGE = "garbage"  # responses carry the wrong number of registers


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind = FaultKind.NONE
    delay_s: float = 0.0

    @classmethod
    def parse(cls, kind: str | FaultKind, delay_s: float = 0.0) -> Fault:
        try:
            fault_kind = FaultKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault kind {kind!r}; known: {known}") from None
        if delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        return cls(fault_kind, float(delay_s))


class RegisterSource(Protocol):
    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        """(first address, register count) of every readable block; other addresses are illegal."""
        ...

    def image(self) -> Mapping[int, int]:
        """The current {address: word} of every address in ``ranges``."""
        ...


class WritableRegisterSource(RegisterSource, Protocol):
    def write(self, address: int, words: Sequence[int]) -> bool:
        """Apply a write of ``words`` from ``address`` on; ``False`` if those addresses take no
        write (answered with exception 2), ``ValueError`` for a value out of range (exception 3)."""
        ...


WRITE_FUNCTION_CODES = frozenset({6, 16})


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
            self._devices(), address=(self.host, port), framer=self._framer, trace_pdu=self._trace_pdu
        )
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
            return ExcCodes.DEVICE_FAILURE
        if set_values is not None:
            return self._write(function_code, address, set_values)
        image = self._source.image()
        offset = address - start_address
        registers[offset : offset + count] = [image.get(address + i, 0) for i in range(count)]
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
        """Mangle outgoing register responses while the fault is "garbage"."""
        registers = getattr(pdu, "registers", None)
        if sending and self.fault.kind is FaultKind.GARBAGE and registers:
            # Half the registers asked for, or one too many when only one was asked for.
            pdu.registers = registers[: len(registers) // 2] if len(registers) > 1 else [*registers, 0xFFFF]
        return pdu
