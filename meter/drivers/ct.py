"""A meter driver behind current transformers: every reading scaled by the CT ratio (:mod:`meter.ct`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from energy.state import Setpoint
from meter.ct import ratio, scale_reading
from meter.drivers.ksem_tcp import MeterSample


class MeterDevice(Protocol):
    """A meter driver, as the cycle sees it (``Device[MeterSample]``)."""

    @property
    def name(self) -> str: ...

    async def read(self) -> MeterSample: ...

    async def write(self, setpoints: Sequence[Setpoint]) -> None: ...

    def close(self) -> None: ...


class CtScaledMeter:
    """Wraps a meter driver and applies the CT ratio to every reading."""

    def __init__(self, meter: MeterDevice, primary_a: int | None) -> None:
        self.meter = meter
        self.factor = ratio(primary_a)

    @property
    def name(self) -> str:
        return self.meter.name

    async def read(self) -> MeterSample:
        sample = await self.meter.read()
        return MeterSample(reading=scale_reading(sample.reading, self.factor), flow=sample.flow)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        await self.meter.write(setpoints)

    def close(self) -> None:
        self.meter.close()
