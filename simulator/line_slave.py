"""Any register device of the simulator on a simulated RS485 line, beside the ENECTORs.

An inverter's register block (:mod:`simulator.inverters`) or the SDM630 (:mod:`simulator.sdm630`)
is a :class:`simulator.server.RegisterSource`, normally served by a Modbus server of its own.
:class:`SourceOnLine` puts one on a multi-drop line (:mod:`simulator.rtu_line`) instead: it
answers RTU request frames at its one address only (through :class:`simulator.enector_rtu.RtuSlave`,
which frames every device on a line), silent for the other addresses, as the other devices on the
line are for its own. Reads (FC03/FC04) outside its ranges and writes it does not take are
answered with exception 2, a refused value with exception 3, as its own server answers them.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.enector_rtu import ILLEGAL_ADDRESS, ILLEGAL_VALUE, ModbusReply, RtuSlave
from simulator.server import RegisterSource

MAX_READ_COUNT = 125  # the Modbus limit of one read


class SourceOnLine:
    """The register source ``source`` as the device at ``address`` of a line."""

    def __init__(self, name: str, source: RegisterSource, address: int) -> None:
        if not 1 <= address <= 247:
            raise ValueError(f"{name}: address {address} is outside 1..247")
        self.name = name
        self.source = source
        self._address = address

    @property
    def address(self) -> int:
        return self._address

    def read(self, start: int, count: int) -> list[int]:
        if not 1 <= count <= MAX_READ_COUNT or not all(
            any(first <= address < first + size for first, size in self.source.ranges)
            for address in range(start, start + count)
        ):
            raise ModbusReply(ILLEGAL_ADDRESS, f"no registers {start}+{count}")
        image = self.source.image()
        return [image.get(start + i, 0) for i in range(count)]

    def write(self, start: int, words: Sequence[int]) -> None:
        write = getattr(self.source, "write", None)
        if write is None:
            raise ModbusReply(ILLEGAL_ADDRESS, f"{self.name} takes no writes")
        try:
            accepted = write(start, list(words))
        except ValueError as exc:
            raise ModbusReply(ILLEGAL_VALUE, str(exc)) from None
        if not accepted:
            raise ModbusReply(ILLEGAL_ADDRESS, f"no writable registers {start}+{len(words)}")


def line_slave(name: str, source: RegisterSource, address: int) -> RtuSlave:
    """The device ``name`` (an inverter, the SDM630) answering at ``address`` on a line."""
    return RtuSlave(SourceOnLine(name, source, address))
