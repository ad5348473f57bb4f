"""The simulated RS485 multi-drop line: several boxes on one port, each answering only its own
address, the line's byte time at its baud rate, collisions and CRC errors counted, and faults
per device that leave the other devices alone."""

from __future__ import annotations

import datetime as dt
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from simulator.rtu_line import LineFramer, SerialSettings, crc16, mangle, with_crc
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox import registers as reg

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)


def read_request(unit: int, start: int, count: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, 3, start, count))


def ask(sock: socket.socket, frame: bytes, expect: int) -> bytes:
    sock.sendall(frame)
    data = b""
    while len(data) < expect:
        chunk = sock.recv(512)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def line() -> Iterator[SimulatorHandle]:
    boxes = [
        {"name": "a", "line": "B", "address": 100},
        {"name": "b", "line": "B", "address": 101},
        {"name": "c", "line": "B", "address": 102},
    ]
    scenario = scenario_from_dict({"battery": None, "wallboxes": boxes})
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False) as sim:
        yield sim


def test_boxes_on_one_line_share_one_port_and_answer_only_their_address(line: SimulatorHandle) -> None:
    assert line.ports["a"] == line.ports["b"] == line.ports["c"] == line.ports["B"]
    with socket.create_connection(("127.0.0.1", line.ports["B"]), timeout=2) as sock:
        for unit in (100, 101, 102):
            answer = ask(sock, read_request(unit, reg.MODBUS_ADDRESS, 1), 7)
            assert answer[0] == unit and struct.unpack(">H", answer[3:5])[0] == unit
        sock.sendall(read_request(50, reg.MODBUS_ADDRESS, 1))  # nobody at 50: silence
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(512)
    counters = line.line_counters()["B"]
    assert counters["transactions"] == 3 and counters["requests"] == 4
    assert counters["per_device"] == {"a": 1, "b": 1, "c": 1}
    assert counters["collisions"] == 0 and counters["crc_errors"] == 0


def test_an_answer_takes_the_lines_byte_time() -> None:
    # 40 registers at 1200 baud 8N2: 8 + 85 bytes x 11 bits = 0.85 s on the line.
    settings = SerialSettings(baudrate=1200)
    assert settings.bits_per_char == 11
    assert settings.frame_s(8 + 85) == pytest.approx(93 * 11 / 1200)
    scenario = scenario_from_dict({"battery": None, "wallboxes": [{"name": "a", "line": "B", "address": 100}]})
    with (
        run_simulator_in_thread(scenario=scenario, start=START, clock=False) as sim,
        socket.create_connection(("127.0.0.1", sim.ports["a"]), timeout=2) as sock,
    ):
        began = time.perf_counter()
        answer = ask(sock, read_request(100, 0x0500, 20), 5 + 40)
        took = time.perf_counter() - began
    assert len(answer) == 45
    # 57600 8N2: (8 + 45) bytes x 11 bits / 57600 = 10.1 ms, plus the 1.75 ms turnaround.
    assert took >= 0.0101


def test_two_masters_talking_at_once_collide_and_are_counted(line: SimulatorHandle) -> None:
    """What one client per box used to do: requests from two connections at the same moment."""
    port = line.ports["B"]
    with socket.create_connection(("127.0.0.1", port)) as one, socket.create_connection(("127.0.0.1", port)) as two:
        # On a busy host the simulator may take one request off the line before the other even
        # arrives (then nothing collided): more pairs, until five collisions were counted.
        for _ in range(20):
            one.sendall(read_request(100, 0x0500, 20))
            two.sendall(read_request(101, 0x0500, 20))
            time.sleep(0.05)
            if line.line_counters()["B"]["collisions"] >= 5:
                break
    assert line.line_counters()["B"]["collisions"] >= 5


def test_a_damaged_request_is_dropped_and_counted() -> None:
    framer = LineFramer(SerialSettings().silence_s)
    good = read_request(100, reg.EVSE_STATE, 1)
    broken = good[:-1] + bytes((good[-1] ^ 0xFF,))
    assert framer.feed(broken + good, 0.0) == [good]
    assert framer.crc_errors == 1
    assert crc16(b"\x01\x03\x00\x00\x00\x01") == 0x0A84


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("exception", lambda a: a[1] == 0x83 and a[2] == 4),
        ("wrong_length", lambda a: a[2] == 2 * 10),
        ("bad_crc", lambda a: crc16(a[:-2]) != struct.unpack("<H", a[-2:])[0]),
        ("wrong_unit", lambda a: a[0] == 101),
    ],
)
def test_mangled_answers(kind, check) -> None:
    answer = with_crc(bytes((100, 3, 40)) + bytes(40))
    assert check(mangle(answer, kind))


def test_a_faulty_box_leaves_the_others_on_its_line_alone(line: SimulatorHandle) -> None:
    line.set_device_fault("b", "bad_crc")
    line.set_device_fault("c", "offline")
    with socket.create_connection(("127.0.0.1", line.ports["B"]), timeout=2) as sock:
        good = ask(sock, read_request(100, reg.EVSE_STATE, 1), 7)
        assert good[0] == 100 and crc16(good[:-2]) == struct.unpack("<H", good[-2:])[0]
        bad = ask(sock, read_request(101, reg.EVSE_STATE, 1), 7)
        assert crc16(bad[:-2]) != struct.unpack("<H", bad[-2:])[0]
        sock.sendall(read_request(102, reg.EVSE_STATE, 1))
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(512)
    with pytest.raises(ValueError, match="unknown fault kind 'melted'"):
        line.set_device_fault("a", "melted")


def test_two_boxes_at_one_address_on_one_line_are_refused() -> None:
    scenario = scenario_from_dict(
        {
            "battery": None,
            "wallboxes": [{"name": "a", "line": "A", "address": 100}, {"name": "b", "line": "A", "address": 100}],
        }
    )
    with pytest.raises(ValueError, match="'a' and 'b' both answer at address 100 on line A"):
        run_simulator_in_thread(scenario=scenario, start=START, clock=False)


def test_an_inverter_and_a_box_at_one_address_on_one_line_are_refused() -> None:
    scenario = scenario_from_dict(
        {
            "battery": None,
            "wallboxes": [{"name": "a", "line": "A", "address": 1}],
            "inverters": [{"name": "mp", "type": "piko_mp_plus", "line": "A"}],
        }
    )
    with pytest.raises(ValueError, match="'a' and 'mp' both answer at address 1 on line A"):
        run_simulator_in_thread(scenario=scenario, start=START, clock=False)


def test_a_line_name_is_checked() -> None:
    from simulator.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=r"wallboxes\[0\]\.line"):
        scenario_from_dict({"battery": None, "wallboxes": [{"name": "a", "line": "A B"}]})
