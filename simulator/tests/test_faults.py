"""Faults a driver must survive, switched on and off while the simulator runs."""

from __future__ import annotations

import time

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from simulator.server import Fault, FaultKind, garble, parse_fault_lines, parse_fault_spec, rtu_crc
from simulator.testing import SimulatorHandle


def client_for(sim: SimulatorHandle) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient(sim.host, port=sim.port, timeout=1, retries=0, reconnect_delay=0.1)


async def test_exception_fault_answers_server_device_failure(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    sim.set_fault("exception")
    failed = await client.read_holding_registers(0, count=28, device_id=1)
    sim.set_fault("none")
    recovered = await client.read_holding_registers(0, count=28, device_id=1)
    client.close()
    assert failed.isError()
    assert failed.exception_code == 4
    assert not recovered.isError()


async def test_garbage_fault_answers_the_wrong_number_of_registers(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    sim.set_fault("garbage")
    many = await client.read_holding_registers(0, count=28, device_id=1)
    one = await client.read_holding_registers(26, count=1, device_id=1)
    client.close()
    assert len(many.registers) != 28
    assert len(one.registers) != 1


async def test_slow_fault_delays_every_answer(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    sim.set_fault("slow", delay_s=0.3)
    began = time.monotonic()
    response = await client.read_holding_registers(0, count=2, device_id=1)
    elapsed_s = time.monotonic() - began
    client.close()
    assert not response.isError()
    assert elapsed_s >= 0.3


async def test_offline_fault_fails_reads_until_none(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    # Answered once: the server holds the connection (on a busy host connect() can return while
    # the accept is still queued, and a connection accepted after the shutdown began survived it).
    assert not (await client.read_holding_registers(0, count=2, device_id=1)).isError()
    sim.set_fault("offline")
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=2, device_id=1)
    newcomer = client_for(sim)
    assert not await newcomer.connect()
    newcomer.close()

    sim.set_fault("none")
    again = client_for(sim)
    assert await again.connect()
    response = await again.read_holding_registers(0, count=2, device_id=1)
    again.close()
    client.close()
    assert not response.isError()


def test_unknown_fault_kind_is_rejected(sim: SimulatorHandle) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.set_fault("melting")


# --- garbage on the wire (issue 13, part 6) ---------------------------------------------------
# A read answer of two registers (0x0102, 0x0304): MBAP (transaction 7, protocol 0, length 7,
# unit 1), then FC 3, byte count 4 and the data.
TCP_ANSWER = bytes.fromhex("0007 0000 0007 01 03 04 0102 0304".replace(" ", ""))
RTU_BODY = bytes.fromhex("01 03 04 0102 0304".replace(" ", ""))
RTU_ANSWER = RTU_BODY + rtu_crc(RTU_BODY)


def mbap_length(frame: bytes) -> int:
    return int.from_bytes(frame[4:6], "big")


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        # The byte count announces 4 bytes more than follow; the MBAP length matches what is sent.
        ("wrong_length", lambda f: f[8] == 8 and len(f) - 6 == mbap_length(f) and f[9:] == TCP_ANSWER[9:]),
        # Cut short: the header still announces the whole frame.
        ("truncated", lambda f: len(f) < len(TCP_ANSWER) and mbap_length(f) == 7),
        # Two registers more, consistently framed.
        ("oversized", lambda f: f[8] == 8 and mbap_length(f) == 11 and len(f) == 6 + 11),
        ("wrong_unit", lambda f: f[6] not in (0, 1) and f[:6] == TCP_ANSWER[:6] and f[7:] == TCP_ANSWER[7:]),
        # Same framing, other data.
        ("corrupt", lambda f: f[:9] == TCP_ANSWER[:9] and len(f) == len(TCP_ANSWER) and f[9:] != TCP_ANSWER[9:]),
    ],
)
def test_each_garbage_kind_damages_a_tcp_answer_in_exactly_one_way(kind: str, check) -> None:
    assert check(garble(TCP_ANSWER, FaultKind(kind), rtu=False))


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("bad_crc", lambda f: f[:-2] == RTU_BODY and f[-2:] != rtu_crc(RTU_BODY)),
        ("wrong_unit", lambda f: f[0] not in (0, 1) and f[1:-2] == RTU_BODY[1:] and f[-2:] == rtu_crc(f[:-2])),
        ("oversized", lambda f: f[2] == 8 and len(f) == 3 + 8 + 2 and f[-2:] == rtu_crc(f[:-2])),
        ("truncated", lambda f: RTU_ANSWER.startswith(f) and len(f) < len(RTU_ANSWER)),
        ("wrong_length", lambda f: f[2] == 8 and f[-2:] == rtu_crc(f[:-2])),
    ],
)
def test_each_garbage_kind_damages_an_rtu_answer_in_exactly_one_way(kind: str, check) -> None:
    assert check(garble(RTU_ANSWER, FaultKind(kind), rtu=True))


async def test_an_exception_fault_answers_the_code_asked_for(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    sim.set_fault("exception", code=6)
    busy = await client.read_holding_registers(0, count=2, device_id=1)
    sim.set_fault("none")
    client.close()
    assert busy.isError() and busy.exception_code == 6


async def test_wrong_unit_answers_are_not_taken_for_the_asked_unit(sim: SimulatorHandle) -> None:
    client = client_for(sim)
    assert await client.connect()
    sim.set_fault("wrong_unit")
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=2, device_id=1)
    client.close()
    sim.set_fault("none")
    again = client_for(sim)
    assert await again.connect()
    assert not (await again.read_holding_registers(0, count=2, device_id=1)).isError()
    again.close()


def test_bad_crc_is_refused_for_a_tcp_device(sim: SimulatorHandle) -> None:
    with pytest.raises(ValueError, match="bad_crc needs RTU framing"):
        sim.set_fault("bad_crc")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("meter", "expected DEVICE=KIND"),
        ("=wrong_unit", "expected DEVICE=KIND"),
        ("meter=", "expected DEVICE=KIND"),
        ("meter=melting", "unknown fault kind"),
        ("meter=exception:99", "exception code must be one of"),
        ("meter=exception:x", "is not a number"),
        ("meter=slow:-1", "must not be negative"),
        ("meter=wrong_unit:3", "takes no argument"),
    ],
)
def test_a_bad_fault_spec_is_refused_with_its_reason(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_fault_spec(text)


def test_fault_specs_and_files_parse() -> None:
    assert parse_fault_spec("roof south=exception:2") == ("roof south", Fault(FaultKind.EXCEPTION, code=2))
    assert parse_fault_spec("garage=slow:1.5") == ("garage", Fault(FaultKind.SLOW, delay_s=1.5))
    text = "# faults\nmeter=wrong_unit\n\nsdm630 = bad_crc  # RTU\n"
    assert parse_fault_lines(text) == {"meter": Fault(FaultKind.WRONG_UNIT), "sdm630": Fault(FaultKind.BAD_CRC)}
    with pytest.raises(ValueError, match="line 2: 'meter' has a fault already"):
        parse_fault_lines("meter=corrupt\nmeter=truncated")
