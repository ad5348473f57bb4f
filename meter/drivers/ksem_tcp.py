"""Meter driver for a KSEM-layout meter over Modbus TCP (a KSEM G1/G2, or the plant simulator).

One persistent connection per meter, owned by the device event loop. Every failure (refused,
timeout, exception response, short or implausible answer) becomes a ``MeterError`` with a
message for people; the caller turns it into an offline status and the next read reconnects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from energy.config import KsemTcpConfig
from energy.devices import DeviceError, WireWatch
from energy.state import FlowSummary, MeterReading, Setpoint
from meter import registers
from rtubus.guard import guarded_modbus
from rtubus.lean import tcp_client

# One read is a connect plus a handful of requests, each bounded by the timeout; the whole read
# gets this many timeouts before it counts as no answer.
READ_DEADLINE_TIMEOUTS = 4


class MeterError(DeviceError):
    """The meter could not deliver a valid sample; the message says why."""


@dataclass(frozen=True, slots=True)
class MeterSample:
    reading: MeterReading
    flow: FlowSummary | None


async def read_within_deadline(
    read: Coroutine[Any, Any, MeterSample],
    timeout_s: float,
    where: str,
    close: Callable[[], None],
    watch: WireWatch | None = None,
) -> MeterSample:
    """One meter read bounded by READ_DEADLINE_TIMEOUTS timeouts; every failure (pymodbus' own,
    or a decode error on a garbled answer) becomes a ``MeterError`` for people and closes the
    connection, so the next read reconnects."""
    return await guarded_modbus(
        read,
        timeout_s=timeout_s,
        deadline_s=timeout_s * READ_DEADLINE_TIMEOUTS,
        where=where,
        watch=watch,
        error=MeterError,
        on_failure=close,
    )


def check_plausible(reading: MeterReading) -> None:
    """Reject answers that decode but cannot be measurements (bit flips, wrong device, wrong map)."""
    power_factors = [reading.power_factor, *(p.power_factor for p in reading.phases)]
    if any(abs(pf) > 1.0 for pf in power_factors):
        raise MeterError(f"implausible power factor {max(power_factors, key=abs):.3f}")
    if reading.frequency_hz and not 40.0 <= reading.frequency_hz <= 70.0:
        raise MeterError(f"implausible frequency {reading.frequency_hz:.3f} Hz")
    for n, phase in enumerate(reading.phases, start=1):
        if not 0.0 <= phase.voltage_v <= 1000.0 or not math.isfinite(phase.current_a):
            raise MeterError(f"implausible voltage on L{n}: {phase.voltage_v:.1f} V")


class KsemTcpMeter:
    def __init__(self, config: KsemTcpConfig) -> None:
        self.config = config
        self._watch = WireWatch()
        self._client = tcp_client(config.host, config.port, config.timeout_s, self._watch)

        self._kept: dict[int, list[int]] | None = None  # the blocks of the last good read

    @property
    def name(self) -> str:
        return f"meter {self.config.host}:{self.config.port}"

    async def read(self) -> MeterSample:
        return await read_within_deadline(
            self._read(), self.config.timeout_s, f"{self.config.host}:{self.config.port}", self.close, self._watch
        )

    async def read_live(self) -> MeterSample:
        """The instantaneous values read now, the energy counters as the last full read found
        them (a guard pass between two cycles; the cycle's own read refreshes everything)."""
        return await read_within_deadline(
            self._read(live=True),
            self.config.timeout_s,
            f"{self.config.host}:{self.config.port}",
            self.close,
            self._watch,
        )

    async def _read(self, live: bool = False) -> MeterSample:
        if not self._client.connected and not await self._client.connect():
            raise MeterError(f"cannot connect to {self.config.host}:{self.config.port}")
        kept = self._kept if live else None
        wanted = registers.KSEM_LIVE_BLOCKS if kept is not None else registers.KSEM_READ_BLOCKS
        blocks = {start: await self._read_block(start, count) for start, count in wanted}
        if kept is not None:
            blocks = {**kept, **blocks}
        reading = registers.decode_reading(registers.blocks_to_image(blocks))
        check_plausible(reading)
        self._kept = blocks
        flow = None
        if self.config.read_flow_summary:
            start, count = registers.FLOW_BLOCK
            flow = registers.decode_flow(registers.blocks_to_image({start: await self._read_block(start, count)}))
        return MeterSample(reading=reading, flow=flow)

    async def _read_block(self, start: int, count: int) -> list[int]:
        response = await self._client.read_holding_registers(start, count=count, device_id=self.config.unit_id)
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise MeterError(f"meter answered with Modbus exception {code} reading {start}-{start + count - 1}")
        words = list(response.registers)
        if len(words) != count:
            raise MeterError(f"meter answered {len(words)} registers for {count} at {start}")
        return words

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        """A meter takes no setpoints."""

    def close(self) -> None:
        self._client.close()
        self._kept = None
