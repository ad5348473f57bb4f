"""The one driver error guard: what a failed Modbus call was (rtubus.guard)."""

from __future__ import annotations

import struct

import pytest
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from energy.devices import DeviceError
from rtubus.guard import Failure, guarded_modbus, modbus_failure


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (TimeoutError(), Failure.NO_ANSWER),
        (ModbusIOException("gave up"), Failure.NO_ANSWER),
        (ConnectionException("gone"), Failure.LOST),
        (ConnectionResetError(), Failure.LOST),
        (OSError("no route"), Failure.FAILED),
        (ModbusException("odd"), Failure.MODBUS),
        (struct.error("short"), Failure.GARBLED),
        (IndexError(), Failure.GARBLED),
        (DeviceError("own"), None),
        (RuntimeError("bug"), None),
    ],
)
def test_modbus_failure_names_what_happened(exc: BaseException, failure: Failure | None) -> None:
    assert modbus_failure(exc) is failure


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ModbusIOException("gave up"), "no answer within 1 s"),
        (ConnectionException("gone"), "connection to box lost"),
        (ModbusException("odd"), "Modbus error: Modbus Error: odd"),
        (OSError("no route"), "connection to box failed: no route"),
    ],
)
async def test_guarded_modbus_words_pymodbus_failures(exc: BaseException, text: str) -> None:
    closed: list[bool] = []

    async def call() -> None:
        raise exc

    with pytest.raises(DeviceError) as caught:
        await guarded_modbus(
            call(),
            timeout_s=1,
            deadline_s=4,
            where="box",
            watch=None,
            error=DeviceError,
            on_failure=lambda: closed.append(True),
        )
    assert str(caught.value) == text
    assert closed == [True]
