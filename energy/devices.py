"""How devices enter the cycle: a small protocol a driver (or a test's scripted device) fulfils."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from energy.state import Setpoint

ReadingT_co = TypeVar("ReadingT_co", covariant=True)
T = TypeVar("T")

log = logging.getLogger(__name__)


class DeviceError(Exception):
    """A device could not be read or written; the message says why, for people."""


# What decoding a damaged answer raises (struct.error is a subclass of Exception named "error").
_DECODE_ERRORS = (ValueError, IndexError, KeyError, TypeError, ArithmeticError, UnicodeError)


class WireWatch:
    """A pymodbus ``trace_packet`` hook (``(sending, data) -> data``) that remembers whether
    bytes came back since the last request. A request that then ends without a valid reply was
    answered with something unreadable (wrong length, wrong unit, cut short, bad CRC), not left
    unanswered; :func:`failure_text` says so."""

    __slots__ = ("received",)

    def __init__(self) -> None:
        self.received = 0

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self.received = 0
        else:
            # pymodbus hands over its whole receive buffer, possibly more than once.
            self.received = max(self.received, len(data))
        return data


def failure_text(exc: BaseException, *, timeout_s: float, where: str = "", watch: WireWatch | None = None) -> str:
    """Any exception of a device call in words for people (shown as the device's error)."""
    if isinstance(exc, DeviceError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        if watch is not None and watch.received:
            return f"unreadable answer: {watch.received} bytes that are no valid reply within {timeout_s:g} s"
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, ConnectionError | EOFError):
        return f"connection to {where} lost" if where else "connection lost"
    detail = str(exc).strip() or "no details"
    kind = type(exc).__name__
    if kind == "error" and type(exc).__module__ == "struct":
        return f"unreadable answer: {detail}"
    if isinstance(exc, _DECODE_ERRORS):
        return f"unreadable answer ({kind}: {detail})"
    if isinstance(exc, OSError):
        return f"connection to {where} failed: {detail}" if where else f"connection failed: {detail}"
    return f"driver error ({kind}: {detail})"


async def guarded(
    call: Awaitable[T],
    *,
    timeout_s: float,
    deadline_s: float | None = None,
    where: str = "",
    watch: WireWatch | None = None,
    error: type[DeviceError] = DeviceError,
    on_failure: Callable[[], None] | None = None,
) -> T:
    """Await a device call, bounded by ``deadline_s`` (default ``timeout_s``); every failure,
    whatever a driver or its library raises (a timeout, a lost connection, a decode error on a
    garbled answer, a bug), comes out as ``error`` with a message from :func:`failure_text`.
    ``on_failure`` runs first (a driver closes its connection, so the next call reconnects).
    Cancellation is passed through untouched."""
    try:
        # asyncio.timeout bounds the call in the calling task; wait_for would wrap it in a task
        # of its own (one more task and its scheduling per device call, for the same result).
        async with asyncio.timeout(deadline_s if deadline_s is not None else timeout_s):
            return await call
    except Exception as exc:
        if on_failure is not None:
            on_failure()
        if isinstance(exc, error):
            raise
        if not isinstance(exc, DeviceError | TimeoutError):
            log.debug("device call at %s failed", where or "?", exc_info=True)
        raise error(failure_text(exc, timeout_s=timeout_s, where=where, watch=watch)) from exc


class Device(Protocol[ReadingT_co]):
    """One device the cycle talks to. ``read`` and ``write`` should raise :class:`DeviceError`
    only; the cycle still turns anything else into an error of that device (:func:`guarded`)."""

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
