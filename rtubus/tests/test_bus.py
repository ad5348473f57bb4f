"""The line owner's rules without a line: one bus per port and event loop, the line's settings
for every device on it (the refusal names both), and nothing without a port."""

from __future__ import annotations

import asyncio

import pytest

from energy.config import SerialConfig
from rtubus.bus import BusError, acquire_bus, describe, open_buses, quiet_after_timeout_s

LINE = SerialConfig(port="socket://127.0.0.1:9", baudrate=57600, stopbits=2)


@pytest.mark.parametrize(
    ("asking", "refusal"),
    [
        ({"baudrate": 19200, "parity": "E", "stopbits": 1}, "driven at 57600 8N2; a device asking for 19200 8E1"),
        ({"baudrate": 9600, "stopbits": 1}, "driven at 57600 8N2; a device asking for 9600 8N1"),
        ({"stopbits": 1}, "driven at 57600 8N2; a device asking for 57600 8N1"),
        ({"bytesize": 7}, "driven at 57600 8N2; a device asking for 57600 7N2"),
    ],
)
def test_a_device_with_other_settings_is_refused_naming_both(asking: dict, refusal: str) -> None:
    async def run() -> None:
        bus = acquire_bus(LINE)
        try:
            with pytest.raises(BusError, match=refusal):
                acquire_bus(SerialConfig(port=LINE.port, **{"baudrate": 57600, "stopbits": 2, **asking}))
            assert open_buses()[LINE.port]["users"] == 1, "the refused device is no user of the line"
        finally:
            bus.release()
        assert open_buses() == {}

    asyncio.run(run())


def test_devices_with_the_line_settings_share_one_bus_per_event_loop() -> None:
    async def users() -> tuple[int, bool]:
        first, second = acquire_bus(LINE), acquire_bus(SerialConfig(port=LINE.port, baudrate=57600, stopbits=2))
        try:
            return open_buses()[LINE.port]["users"], first is second
        finally:
            first.release()
            second.release()

    assert asyncio.run(users()) == (2, True)
    assert asyncio.run(users()) == (2, True), "a new loop gets a bus of its own"


def test_no_port_no_bus() -> None:
    async def run() -> None:
        with pytest.raises(BusError, match="no RS485 interface is configured"):
            acquire_bus(SerialConfig(port=""))

    asyncio.run(run())


@pytest.mark.parametrize(
    ("serial", "text"),
    [
        (SerialConfig(port="x"), "19200 8N1"),
        (SerialConfig(port="x", baudrate=38400, stopbits=2), "38400 8N2"),
        (SerialConfig(port="x", baudrate=19200, parity="E"), "19200 8E1"),
    ],
)
def test_settings_are_written_as_on_the_interface_page(serial: SerialConfig, text: str) -> None:
    assert describe(serial) == text


@pytest.mark.parametrize(
    ("serial", "quiet_s"),
    [
        # 256 bytes + 3.5 characters of 10 bits (8N1) at 9600 baud: a late answer of the longest size.
        (SerialConfig(port="x", baudrate=9600), 259.5 * 10 / 9600),
        (SerialConfig(port="x", baudrate=19200, parity="E"), 259.5 * 11 / 19200),
        (SerialConfig(port="x", baudrate=38400, stopbits=2), 259.5 * 11 / 38400),
        # Fast lines keep the floor (a serial server's own buffering).
        (SerialConfig(port="x", baudrate=57600), 0.05),
        (SerialConfig(port="x", baudrate=115200, stopbits=2), 0.05),
    ],
)
def test_the_line_stays_quiet_after_a_timeout_until_the_longest_late_answer_is_over(
    serial: SerialConfig, quiet_s: float
) -> None:
    assert quiet_after_timeout_s(serial) == pytest.approx(quiet_s)
    assert quiet_after_timeout_s(serial) >= 0.05
