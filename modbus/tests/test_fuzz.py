"""Hostile input: hypothesis throws raw bytes at the TCP and RTU slave while another client is served.

Wrong unit ids, illegal addresses, counts over 125, truncated and random frames must get
exception responses or a closed connection, never a crash; a well-behaved client reading at
the same time keeps getting its values.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import serial  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modbus import rtu
from modbus.slave.server import ModbusSlave, SerialPortConfig, SlaveConfig
from modbus.tests.conftest import PLANT_ID, MemoryBackend, make_state
from modbus.tests.ptys import linked_ptys

EXCEPTION_CODES = {1, 2, 3, 4, 0x0B}


class SlaveThread:
    """The slave on an event loop of its own, so the test can use blocking sockets."""

    def __init__(self, backend: MemoryBackend, tmp_dir) -> None:
        self.loop = asyncio.new_event_loop()
        self.slave = ModbusSlave(backend, tcp_port=0, tls_dir=tmp_dir, poll_s=0.05)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ModbusSlave:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.slave.start(), self.loop).result(10)
        return self.slave

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.slave.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[tuple[ModbusSlave, str]]:
    with linked_ptys() as (server_side, client_side):
        port = SerialPortConfig("A", server_side, rtu.PRESETS["plenticore"])
        backend = MemoryBackend(SlaveConfig(plant_id=PLANT_ID, serial=(port,)))
        backend.publish(make_state())
        # The cycle publishes a snapshot every second; without it the slave would rightly answer
        # exception 4 once the fuzz outlasts the 5 s health limit on a busy host.
        stop = threading.Event()

        def cycle() -> None:
            sequence = 1
            while not stop.wait(0.5):
                sequence += 1
                backend.publish(make_state(sequence))

        publisher = threading.Thread(target=cycle, daemon=True)
        publisher.start()
        try:
            with SlaveThread(backend, tmp_path_factory.mktemp("tls")) as slave:
                yield slave, client_side
        finally:
            stop.set()
            publisher.join(2)


class Reader(threading.Thread):
    """A well-behaved client polling 0-27 during the fuzz."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.ok = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            transaction = 0
            while not self.stop.is_set():
                transaction = (transaction + 1) & 0xFFFF
                sock.sendall(struct.pack(">HHHBBHH", transaction, 0, 6, 1, 3, 0, 28))
                answer = b""
                while len(answer) < 9 + 56:
                    chunk = sock.recv(256)
                    if not chunk:
                        self.errors.append("closed")
                        return
                    answer += chunk
                if answer[:2] != struct.pack(">H", transaction) or answer[7:9] != bytes([3, 56]):
                    self.errors.append(answer.hex())
                else:
                    self.ok += 1
                time.sleep(0.002)


def check_tcp_answers(data: bytes) -> None:
    """Every answer is a well-formed MBAP frame: a normal answer or an exception with a known code."""
    while data:
        assert len(data) >= 9, data.hex()
        _transaction, protocol, length = struct.unpack_from(">HHH", data)
        assert protocol == 0 and len(data) >= 6 + length, data.hex()
        pdu = data[7 : 6 + length]
        if pdu[0] & 0x80:
            assert len(pdu) == 2 and pdu[1] in EXCEPTION_CODES, pdu.hex()
        data = data[6 + length :]


mbap_frames = st.builds(
    lambda transaction, unit, fc, address, count, extra, cut: (
        struct.pack(">HHHBBHH", transaction, 0, 6 + len(extra), unit, fc, address, count) + extra
    )[: cut or None],
    st.integers(0, 0xFFFF),
    st.sampled_from([0, 1, 2, 71, 247, 255]),
    st.sampled_from([0, 1, 2, 3, 4, 5, 6, 15, 16, 23, 43, 0x83, 255]),
    st.one_of(
        st.sampled_from([0, 27, 40, 147, 512, 791, 8192, 40000, 40960, 41021, 0xB000, 0xFFFF]), st.integers(0, 0xFFFF)
    ),
    st.one_of(st.sampled_from([0, 1, 28, 123, 125, 126, 2000, 0xFFFF]), st.integers(0, 0xFFFF)),
    st.binary(max_size=12),
    st.integers(0, 20),
)
tcp_payloads = st.one_of(
    mbap_frames, st.binary(min_size=1, max_size=300), st.lists(mbap_frames, max_size=4).map(b"".join)
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=tcp_payloads)
def test_tcp_fuzz(running, payload):
    slave, _line = running
    with socket.create_connection(("127.0.0.1", slave.tcp.port), timeout=2) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    check_tcp_answers(received)


def test_other_clients_are_served_during_the_fuzz(running):
    slave, _line = running
    reader = Reader(slave.tcp.port)
    reader.start()
    try:
        test_tcp_fuzz(running)
    finally:
        reader.stop.set()
        reader.join(5)
    assert reader.errors == [] and reader.ok > 50


rtu_frames = st.builds(
    lambda address, fc, body, good_crc, cut: (
        rtu.with_crc(bytes([address, fc]) + body) if good_crc else bytes([address, fc]) + body + b"\x00\x00"
    )[: cut or None],
    st.sampled_from([0, 1, 2, 247, 255]),
    st.sampled_from([1, 3, 4, 6, 16, 43, 0x83, 255]),
    st.binary(max_size=12),
    st.booleans(),
    st.integers(0, 10),
)


@pytest.fixture(scope="module")
def line(running) -> Iterator[serial.Serial]:
    _slave, path = running
    port = serial.Serial(path, baudrate=38400, bytesize=8, parity="N", stopbits=2, timeout=0.02)
    yield port
    port.close()


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.one_of(rtu_frames, st.binary(min_size=1, max_size=300)))
def test_rtu_fuzz(running, line, payload):
    line.reset_input_buffer()
    line.write(payload)
    time.sleep(0.004)  # t3.5 silence: the slave takes the frame, or drops it
    answer = line.read(600)
    if answer:
        assert answer[0] == 1 and rtu.crc_ok(answer), answer.hex()
        if answer[1] & 0x80:
            assert len(answer) == 5 and answer[2] in EXCEPTION_CODES
    # The line keeps working after whatever came before.
    if payload[-1:] == b"\xff":
        line.reset_input_buffer()
        line.write(rtu.with_crc(struct.pack(">BBHH", 1, 3, 0, 2)))
        time.sleep(0.01)
        assert line.read(9)[:3] == bytes([1, 3, 4])


def test_rtu_still_answers_after_the_fuzz(running, line):
    time.sleep(0.01)
    line.reset_input_buffer()
    line.write(rtu.with_crc(struct.pack(">BBHH", 1, 3, 8192, 57)))
    time.sleep(0.02)
    answer = line.read(200)
    assert answer[:3] == bytes([1, 3, 114]) and rtu.crc_ok(answer)
