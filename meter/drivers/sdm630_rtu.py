"""Meter driver for an Eastron SDM630 on Modbus RTU (MET-2).

The line is a serial device (``/dev/ttyUSB0``) or an RTU-over-TCP serial server given as a
pyserial URL (``socket://host:port``, e.g. the plant simulator's SDM630). Three FC04 reads per
sample (:data:`meter.sdm630.READ_BLOCKS`); every failure becomes a ``MeterError`` like the KSEM
driver's. The SDM630 knows nothing of PV, battery or wallbox: no energy-flow summary.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.client import AsyncModbusSerialClient

from energy.config import Sdm630Config
from energy.devices import WireWatch
from energy.state import Setpoint
from meter import registers, sdm630
from meter.drivers.ksem_tcp import (
    MeterError,
    MeterSample,
    check_plausible,
    read_within_deadline,
)


class Sdm630RtuMeter:
    def __init__(self, config: Sdm630Config) -> None:
        self.config = config
        self._watch = WireWatch()
        self._client = AsyncModbusSerialClient(
            config.port,
            baudrate=config.baudrate,
            bytesize=config.bytesize,
            parity=config.parity,
            stopbits=config.stopbits,
            timeout=config.timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._watch,
        )

    @property
    def name(self) -> str:
        return f"SDM630 {self.config.port}/{self.config.unit_id}"

    async def read(self) -> MeterSample:
        return await read_within_deadline(
            self._read(), self.config.timeout_s, self.config.port, self.close, self._watch
        )

    async def _read(self) -> MeterSample:
        if not self._client.connected and not await self._client.connect():
            raise MeterError(f"cannot open {self.config.port}")
        blocks = {}
        for start, count in sdm630.READ_BLOCKS:
            response = await self._client.read_input_registers(start, count=count, device_id=self.config.unit_id)
            if response.isError():
                code = getattr(response, "exception_code", "?")
                raise MeterError(f"SDM630 answered with Modbus exception {code} reading {start}-{start + count - 1}")
            if len(response.registers) != count:
                raise MeterError(f"SDM630 answered {len(response.registers)} registers for {count} at {start}")
            blocks[start] = list(response.registers)
        reading = sdm630.values_to_reading(sdm630.decode(registers.blocks_to_image(blocks)))
        check_plausible(reading)
        return MeterSample(reading=reading, flow=None)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        """A meter takes no setpoints."""

    def close(self) -> None:
        self._client.close()
