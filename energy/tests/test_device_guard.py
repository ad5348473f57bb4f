"""The one driver error guard: any exception of a device call becomes a DeviceError in words."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.devices import DeviceError, WireWatch, failure_text, guarded


class MeterError(DeviceError):
    pass


def _struct_error() -> struct.error:
    try:
        struct.unpack(">f", b"\x00")
    except struct.error as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (DeviceError("meter answered 14 registers for 28 at 0"), "meter answered 14 registers for 28 at 0"),
        (TimeoutError(), "no answer within 0.5 s"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection to 10.0.0.2:502 lost"),
        (_struct_error(), "unreadable answer: unpack requires a buffer of 4 bytes"),
        (ValueError("invalid literal"), "unreadable answer (ValueError: invalid literal)"),
        (OverflowError("math range error"), "unreadable answer (OverflowError: math range error)"),
        (KeyError(40070), "unreadable answer (KeyError: 40070)"),
        (OSError(9, "Bad file descriptor"), "connection to 10.0.0.2:502 failed: [Errno 9] Bad file descriptor"),
        (RuntimeError(), "driver error (RuntimeError: no details)"),
    ],
)
def test_every_failure_reads_as_words(exc: BaseException, text: str) -> None:
    assert failure_text(exc, timeout_s=0.5, where="10.0.0.2:502") == text


def test_bytes_that_came_back_make_a_timeout_an_unreadable_answer() -> None:
    watch = WireWatch()
    watch(True, b"\x00\x01request")
    assert failure_text(TimeoutError(), timeout_s=1.0, watch=watch) == "no answer within 1 s"
    watch(False, b"\x00\x01\x00")
    watch(False, b"\x00\x01\x00\x00\x00")  # pymodbus hands over its growing buffer
    assert failure_text(TimeoutError(), timeout_s=1.0, watch=watch) == (
        "unreadable answer: 5 bytes that are no valid reply within 1 s"
    )
    watch(True, b"next request")
    assert failure_text(TimeoutError(), timeout_s=1.0, watch=watch) == "no answer within 1 s"


@given(st.sampled_from([ValueError, IndexError, KeyError, TypeError, ZeroDivisionError, RuntimeError, OSError]))
def test_guarded_turns_any_exception_into_the_error_type_and_closes(kind: type[Exception]) -> None:
    closed: list[bool] = []

    async def failing() -> int:
        raise kind("x")

    async def run() -> None:
        with pytest.raises(MeterError) as caught:
            await guarded(failing(), timeout_s=0.1, error=MeterError, on_failure=lambda: closed.append(True))
        assert str(caught.value)
        assert isinstance(caught.value.__cause__, kind)

    asyncio.run(run())
    assert closed == [True]


async def test_guarded_bounds_a_call_and_passes_values_and_cancellation() -> None:
    async def value() -> int:
        return 7

    assert await guarded(value(), timeout_s=0.1) == 7
    with pytest.raises(DeviceError, match=r"no answer within 0\.05 s"):
        await guarded(asyncio.sleep(5), timeout_s=0.05)
    task = asyncio.ensure_future(guarded(asyncio.sleep(5), timeout_s=10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
