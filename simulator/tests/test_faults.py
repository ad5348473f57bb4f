"""Faults a driver must survive, switched on and off while the simulator runs."""

from __future__ import annotations

import time

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

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
