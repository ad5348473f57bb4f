"""Modbus TCP master (MB-4): ten targets, one of them dead, every live one gets each cycle in time."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from meter import registers
from modbus import master
from modbus.master import MasterConfig, TargetConfig
from modbus.slave.server import SlaveConfig
from modbus.tests.conftest import PLANT_ID, MemoryBackend, make_state, meter_of


class Target:
    """A pymodbus slave that records every write (an independent implementation)."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, int, list[int]]] = []
        self.server: ModbusTcpServer | None = None

    async def action(self, fc, start_address, address, count, regs, set_values) -> ExcCodes | None:
        if set_values is not None:
            self.writes.append((time.monotonic(), address, list(set_values)))
        return None

    async def start(self) -> int:
        device = SimDevice(
            1, simdata=[SimData(0, count=800, values=0, datatype=DataType.REGISTERS)], action=self.action
        )
        self.server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        await self.server.serve_forever(background=True)
        return int(self.server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def power_at(self, since: float, until: float) -> list[float]:
        powers = []
        for at, address, values in self.writes:
            if address == 0 and since <= at <= until:
                image = {i: v for i, v in enumerate(values)}
                plus, minus = (registers.unpack(registers.INSTANTANEOUS_SPECS[:2], image)).values()
                powers.append(float(plus) - float(minus))
        return powers


async def blackhole() -> tuple[asyncio.Server, int]:
    """Accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def test_ten_targets_one_dead_every_live_one_gets_each_cycle_within_200_ms(start_slave):
    targets = [Target() for _ in range(9)]
    ports = [await t.start() for t in targets]
    dead, dead_port = await blackhole()
    config = MasterConfig(
        enabled=True,
        targets=tuple(TargetConfig(n, "127.0.0.1", port) for n, port in enumerate([dead_port, *ports])),
        groups=("total", "phases", "energy_total", "energy_phases"),
        timeout_s=0.3,
    )
    backend = MemoryBackend(SlaveConfig(plant_id=PLANT_ID, tcp_enabled=False, master=config))
    await start_slave(backend, poll_s=0.02)
    try:
        cycles = []
        for sequence in range(1, 7):
            power = 1000.0 + 100 * sequence
            backend.publish(make_state(sequence, power_w=power))
            cycles.append((time.monotonic(), meter_of(make_state(sequence, power_w=power)).active_power_w))
            await asyncio.sleep(0.3)
        for n, target in enumerate(targets):
            for at, power in cycles:
                got = target.power_at(at, at + 0.2)
                assert any(abs(p - power) < 0.11 for p in got), (n, power, got)
        await asyncio.sleep(1.1)  # the status reporter runs once a second
        statuses = backend.statuses
        assert statuses[0].last_error and statuses[0].last_success is None
        assert all(statuses[n].last_success and not statuses[n].last_error for n in range(1, 10))
        # The dead target is backed off, not hammered: one timeout, then a pause.
        assert statuses[0].failures <= 3
    finally:
        dead.close()
        for target in targets:
            assert target.server is not None
            await target.server.shutdown()


async def test_interval_mode_pushes_the_mean():
    target = Target()
    port = await target.start()
    pusher = master.MasterPusher()
    pusher.configure(
        MasterConfig(
            enabled=True, targets=(TargetConfig(1, "127.0.0.1", port),), interval_s=0.3, average=True, timeout_s=0.5
        )
    )
    try:
        for power in (1000.0, 2000.0, 3000.0):
            pusher.offer(meter_of(make_state(power_w=power)))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)
        powers = target.power_at(0, time.monotonic())
        mean = sum(meter_of(make_state(power_w=p)).active_power_w for p in (1000.0, 2000.0, 3000.0)) / 3
        assert powers and powers[0] == pytest.approx(mean, abs=0.1)
    finally:
        await pusher.stop()
        assert target.server is not None
        await target.server.shutdown()


def test_write_pdus_cover_the_groups_within_one_pdu_each():
    reading = meter_of(make_state())
    pdus = master.write_pdus(reading, master.GROUPS)
    assert [(p[0], int.from_bytes(p[1:3], "big"), int.from_bytes(p[3:5], "big")) for p in pdus] == [
        (16, 0, 28),
        (16, 40, 106),
        (16, 512, 40),
        (16, 592, 100),
        (16, 692, 100),
    ]
