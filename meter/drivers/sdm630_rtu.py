"""Meter driver for an Eastron SDM630 on Modbus RTU (MET-2).

The line is a serial device (``/dev/ttyUSB0``) or an RTU-over-TCP serial server given as a
pyserial URL (``socket://host:port``, e.g. the plant simulator's SDM630). Every request is one
transaction on the line's one bus (:mod:`rtubus.bus`), shared with whatever else hangs on that
line (wallboxes, inverters on RS485), with the meter's timeout; a line driven with other serial
settings refuses the meter with a message naming both. Three FC04 reads per sample
(:data:`meter.sdm630.READ_BLOCKS`); every failure becomes a ``MeterError`` like the KSEM
driver's. The SDM630 knows nothing of PV, battery or wallbox: no energy-flow summary.
"""

from __future__ import annotations

from collections.abc import Sequence

from energy.config import Sdm630Config, SerialConfig
from energy.devices import WireWatch
from energy.state import Setpoint
from meter import registers, sdm630
from meter.drivers.ksem_tcp import (
    MeterError,
    MeterSample,
    check_plausible,
    read_within_deadline,
)
from rtubus.bus import BusError, PortUnavailable, RtuBus, acquire_bus


class Sdm630RtuMeter:
    def __init__(self, config: Sdm630Config) -> None:
        self.config = config
        self._watch = WireWatch()
        self._serial = SerialConfig(
            port=config.port,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
        )
        self._bus: RtuBus | None = None  # the line's bus, taken on first use

    @property
    def name(self) -> str:
        return f"SDM630 {self.config.port}/{self.config.unit_id}"

    async def read(self) -> MeterSample:
        return await read_within_deadline(
            self._read(), self.config.timeout_s, self.config.port, self.close, self._watch
        )

    async def _read(self) -> MeterSample:
        if self._bus is None:
            try:
                self._bus = acquire_bus(self._serial)
            except BusError as exc:
                raise MeterError(str(exc)) from None
        bus = self._bus
        blocks = {start: await self._read_block(bus, start, count) for start, count in sdm630.READ_BLOCKS}
        reading = sdm630.values_to_reading(sdm630.decode(registers.blocks_to_image(blocks)))
        check_plausible(reading)
        return MeterSample(reading=reading, flow=None)

    async def _read_block(self, bus: RtuBus, start: int, count: int) -> list[int]:
        unit = self.config.unit_id
        try:
            response = await bus.transaction(
                self.config.timeout_s,
                lambda client: client.read_input_registers(start, count=count, device_id=unit),
                watch=self._watch,
            )
        except PortUnavailable:
            raise MeterError(f"cannot open {self.config.port}") from None
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise MeterError(f"SDM630 answered with Modbus exception {code} reading {start}-{start + count - 1}")
        if len(response.registers) != count:
            raise MeterError(f"SDM630 answered {len(response.registers)} registers for {count} at {start}")
        return list(response.registers)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        """A meter takes no setpoints."""

    def close(self) -> None:
        """Give the line back (it stays open for the other devices on it)."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.release()
