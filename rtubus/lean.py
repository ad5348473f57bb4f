"""A lean decoder for the cycle's hot path: pymodbus' register reply unpacked in one call.

pymodbus 3 decodes a read-holding-registers reply (function code 3) with one
``struct.unpack(">H", ...)`` and one ``list.append`` per register; the cycle reads about a
thousand registers a second, the guard passes more. :class:`LeanRegistersResponse` is the same
reply class with the same checks and the same result (``registers``: a list of unsigned 16-bit
words), decoded with a single ``struct.unpack`` of the whole block. It is registered on each of
the product's Modbus clients through pymodbus' own extension point (``client.register``), so
framing, transactions, errors and exception replies stay pymodbus'.
"""

from __future__ import annotations

import struct
from typing import Any, TypeVar

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse


class LeanRegistersResponse(ReadHoldingRegistersResponse):
    """FC03 reply, decoded in one ``struct.unpack`` (pymodbus' class does one per register)."""

    def decode(self, data: bytes) -> None:
        if (data_len := int(data[0])) >= len(data):
            self.registers = []
            raise ModbusIOException(
                f"byte_count {data_len} > length of packet {len(data)}",
                function_code=self.function_code,
            )
        count = data_len // 2
        self.registers = list(struct.unpack(f">{count}H", data[1 : 1 + 2 * count]))


C = TypeVar("C")


def lean(client: C) -> C:
    """``client`` (a pymodbus client) with the lean register decoder; returns it."""
    register: Any = getattr(client, "register")  # noqa: B009 (any pymodbus client)
    register(LeanRegistersResponse)
    return client


def tcp_client(host: str, port: int, timeout_s: float, trace_packet: Any = None) -> Any:
    """The drivers' Modbus TCP client: lean decoding, no retries, and ``reconnect_delay=0``, so
    no background reconnect loop runs: the next call reconnects when it needs to."""
    from pymodbus.client import AsyncModbusTcpClient

    return lean(
        AsyncModbusTcpClient(
            host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0, trace_packet=trace_packet
        )
    )
