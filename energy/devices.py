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


# EVSE states of an ENECTOR (register 0x0100).
EVSE_NOT_INITIALISED, EVSE_IDLE, EVSE_CONNECTED, EVSE_PRECONDITIONS, EVSE_READY, EVSE_CHARGING = 0, 1, 2, 3, 4, 5
EVSE_ERROR, EVSE_SERVICE = 6, 7


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxReading:
    """One read of a wallbox. Currents and powers are the box's own L1..L3 (before rotation).

    ``current_limit_a`` is what the manager last set (0 = no release), ``switched_phases`` the
    phases the box charges on now (1 or 3), ``phase_options`` what its hardware allows
    (0 1-phase only, 1 3-phase only, 2 switchable).
    """

    evse_state: int
    vehicle_connected: bool
    charging: bool
    error_code: int = 0
    phase_currents_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    power_w: float = 0.0
    current_limit_a: float = 0.0
    released: bool = False
    max_current_a: float = 16.0
    phase_options: int = 2
    switched_phases: int = 3
    detected_vehicle_phases: int | None = None
    session_energy_wh: float = 0.0
    session_duration_s: float = 0.0
    total_energy_wh: float = 0.0
    fallback_active: bool = False
    serial: str = ""
    firmware: str = ""
