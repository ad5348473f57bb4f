"""Modbus RTU slave on RS485 (MB-3), on a pseudo-terminal pair at 38400 8N2, address 1."""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest
import serial  # type: ignore[import-untyped]
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.framer import FramerType

from meter import registers
from modbus import registermap, rtu
from modbus.slave.rtu import RtuFramer
from modbus.slave.server import SerialPortConfig, SlaveConfig
from modbus.tests.conftest import PLANT_ID, MemoryBackend, make_state
from modbus.tests.ptys import linked_ptys

PLENTICORE = rtu.PRESETS["plenticore"]
POLL = ((0, 74), (74, 74), (512, 120), (632, 120), (752, 40), (8192, 57))


@pytest.fixture
def line():
    with linked_ptys() as paths:
        yield paths


@pytest.fixture
def rtu_backend(line) -> MemoryBackend:
    port = SerialPortConfig("A", line[0], PLENTICORE)
    backend = MemoryBackend(SlaveConfig(plant_id=PLANT_ID, tcp_enabled=False, serial=(port,)))
    backend.publish(make_state())
    return backend


async def test_a_plenticore_style_poll_is_answered(rtu_backend, start_slave, line):
    slave = await start_slave(rtu_backend)
    assert slave.serial_ports["A"].running
    client = AsyncModbusSerialClient(
        line[1], framer=FramerType.RTU, baudrate=38400, bytesize=8, parity="N", stopbits=2, timeout=1, retries=0
    )
    assert await client.connect()
    try:
        blocks = {}
        for _ in range(3):  # polled every second by the inverter; here back to back
            for start, count in POLL:
                response = await client.read_holding_registers(start, count=count, device_id=1)
                assert not response.isError(), (start, response)
                blocks[start] = list(response.registers)
    finally:
        client.close()
    image = registers.blocks_to_image(blocks)
    reading = registermap.served_reading(make_state())
    assert reading is not None
    assert registers.decode_reading(image) == registers.decode_reading(registers.encode_reading(reading))
    assert registers.unpack(registers.PNP_SPECS, image)["vendor"] == "KOSTAL"


def raw_port(path: str) -> serial.Serial:
    return serial.Serial(path, baudrate=38400, bytesize=8, parity="N", stopbits=2, timeout=0.15)


def read_frame(address: int, start: int, count: int) -> bytes:
    return rtu.with_crc(struct.pack(">BBHH", address, 3, start, count))


async def exchange(port: serial.Serial, frame: bytes) -> bytes:
    def run() -> bytes:
        port.reset_input_buffer()
        port.write(frame)
        time.sleep(0.005)  # the line falls silent: t3.5 at 38400 baud is 1.75 ms
        return bytes(port.read(512))

    return await asyncio.to_thread(run)


async def test_bad_crc_is_ignored_and_other_addresses_stay_silent(rtu_backend, start_slave, line):
    await start_slave(rtu_backend)
    port = raw_port(line[1])
    try:
        good = read_frame(1, 0, 2)
        answer = await exchange(port, good)
        assert answer[:3] == bytes([1, 3, 4]) and rtu.crc_ok(answer)
        bad = good[:-1] + bytes([good[-1] ^ 0xFF])
        assert await exchange(port, bad) == b""
        assert await exchange(port, read_frame(2, 0, 2)) == b""
        assert await exchange(port, read_frame(247, 0, 2)) == b""
        # An exception answer for a served address: illegal address, unknown function code.
        assert (await exchange(port, read_frame(1, 1000, 2)))[:3] == bytes([1, 0x83, 2])
        assert (await exchange(port, rtu.with_crc(bytes([1, 0x2B, 0x0E, 1, 0]))))[:3] == bytes([1, 0xAB, 1])
        # Writes are TLS-only: refused on RS485.
        write = rtu.with_crc(struct.pack(">BBHH", 1, 6, 0xB000, 1))
        assert (await exchange(port, write))[:3] == bytes([1, 0x86, 1])
        # And the line still works.
        assert (await exchange(port, good))[:3] == bytes([1, 3, 4])
    finally:
        port.close()


def test_framer_cuts_frames_by_length_and_resynchronises_at_silence():
    framer = RtuFramer(1, 0.00175)
    frame = read_frame(1, 0, 2)
    assert framer.feed(frame[:3], 0.0) == []
    assert framer.feed(frame[3:], 0.0001) == [frame]
    # A foreign frame is skipped until the line is silent, then ours is taken again.
    assert framer.feed(read_frame(2, 0, 2), 1.0) == []
    assert framer.feed(frame[:4], 1.0005) == []  # still inside the foreign frame's burst
    assert framer.feed(frame, 1.01) == [frame]
    # A bad CRC drops the frame and counts it.
    assert framer.feed(frame[:-1] + b"\x00", 2.0) == []
    assert framer.ignored == 1


def test_line_time_formula():
    # 8-byte request, 61-byte answer (28 registers), 11 bits a character, two t3.5 gaps.
    assert rtu.line_time_s(8, 61, 38400) == pytest.approx(69 * 11 / 38400 + 2 * 0.00175)
    assert rtu.silent_interval_s(9600, 8, "E", 1) == pytest.approx(3.5 * 11 / 9600)


def test_presets_are_those_of_the_spec():
    assert rtu.PRESETS["plenticore"] == rtu.LineSettings("slave", 1, 38400, 8, "N", 2)
    assert rtu.PRESETS["piko_mp_plus"] == rtu.LineSettings("slave", 247, 19200, 8, "E", 1)
    assert rtu.PRESETS["piko_ci"] == rtu.LineSettings("slave", 1, 19200, 8, "N", 2)
    assert rtu.preset_of(rtu.LineSettings("slave", 2, 57600, 8, "N", 2)) == rtu.USER_DEFINED
    assert os.name == "posix"
