"""The one driver error guard of the Modbus drivers (meter, inverters, wallboxes): what a failed
Modbus call was, whatever pymodbus, the socket or the decoder raised, and the device's error in
words for people. Below all three driver families; pymodbus may be named here, not in energy.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from energy.devices import DeviceError, WireWatch, failure_text, guarded

T = TypeVar("T")


class Failure(enum.Enum):
    NO_ANSWER = "no answer"  # the deadline passed, or pymodbus gave up waiting
    LOST = "lost"  # the connection broke
    FAILED = "failed"  # any other socket or serial error
    MODBUS = "modbus"  # any other pymodbus error
    GARBLED = "garbled"  # an answer pymodbus could not decode


def modbus_failure(exc: BaseException) -> Failure | None:
    """What a Modbus call's exception means; None for anything else (a driver's own error, a bug)."""
    if isinstance(exc, TimeoutError | ModbusIOException):
        return Failure.NO_ANSWER
    if isinstance(exc, ConnectionException | ConnectionError):
        return Failure.LOST
    if isinstance(exc, OSError):
        return Failure.FAILED
    if isinstance(exc, ModbusException):
        return Failure.MODBUS
    if isinstance(exc, ValueError | struct.error | IndexError):
        return Failure.GARBLED
    return None


E = TypeVar("E", bound=DeviceError)


async def guarded_modbus(
    call: Awaitable[T],
    *,
    timeout_s: float,
    deadline_s: float,
    where: str,
    watch: WireWatch | None,
    error: type[E],
    on_failure: Callable[[], None],
    lost: Callable[[], bool] | None = None,
) -> T:
    """:func:`energy.devices.guarded` for a Modbus device: every failure becomes ``error`` (and
    ``on_failure`` closes the connection, so the next call reconnects), pymodbus' own in words:
    no answer within the timeout (or, where ``lost`` says so, the connection was lost while
    waiting), connection lost, Modbus error."""
    try:
        return await guarded(
            call,
            timeout_s=timeout_s,
            deadline_s=deadline_s,
            where=where,
            watch=watch,
            error=error,
            on_failure=on_failure,
        )
    except error as exc:
        failure = None if exc.__cause__ is None else modbus_failure(exc.__cause__)
        if failure is Failure.NO_ANSWER:
            if lost is not None and lost():
                raise error(f"connection to {where} lost") from None
            raise error(failure_text(TimeoutError(), timeout_s=timeout_s, watch=watch)) from None
        if failure is Failure.LOST:
            raise error(f"connection to {where} lost") from None
        if failure is Failure.MODBUS:
            raise error(f"Modbus error: {exc.__cause__}") from None
        raise
