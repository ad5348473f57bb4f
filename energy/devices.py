"""How devices enter the cycle: a small protocol a driver (or a test's scripted device) fulfils."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from energy.state import Setpoint

ReadingT_co = TypeVar("ReadingT_co", covariant=True)


class DeviceError(Exception):
    """A device could not be read or written; the message says why, for people."""


class Device(Protocol[ReadingT_co]):
    """One device the cycle talks to. ``read`` and ``write`` raise :class:`DeviceError` only."""

    @property
    def name(self) -> str: ...

    async def read(self) -> ReadingT_co: ...

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        """Write this cycle's setpoints for the device; called every cycle so a driver can
        refresh a watchdog, and skip writes whose value has not changed."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InverterReading:
    """One read of an inverter. Power in W; battery charge (+) / discharge (-).

    ``ac_power_w`` is what the inverter feeds into the house grid, battery discharge included;
    ``pv_power_w`` what its PV strings deliver (DC). ``limit_pct`` is the active-power limit
    the inverter reports as in force, ``None`` if it cannot tell.
    """

    ac_power_w: float
    pv_power_w: float | None = None
    limit_pct: float | None = None
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None
