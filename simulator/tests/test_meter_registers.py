"""The grid meter over a real socket: known values come back at the documented KSEM addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pymodbus.client import AsyncModbusTcpClient

from energy.state import EnergyCounters, MeterReading, PhaseReading
from meter.registers import (
    FLOW_BLOCK,
    KSEM_READ_BLOCKS,
    PNP_BLOCK,
    blocks_to_image,
    decode_device_info,
    decode_flow,
    decode_reading,
)
from simulator.testing import SimulatorHandle

KNOWN = MeterReading(
    active_power_w=-1234.5,
    reactive_power_var=321.7,
    apparent_power_va=1500.2,
    power_factor=-0.823,
    frequency_hz=49.987,
    phases=(
        PhaseReading(231.234, 5.678, -800.1, 100.2, 810.3, -0.987),
        PhaseReading(229.876, 3.456, 400.4, 120.5, 418.2, 0.957),
        PhaseReading(230.5, 4.321, -834.8, 101.0, 840.9, -0.993),
    ),
    energy=EnergyCounters(1234567.8, 765432.1, 23456.7, 3456.7, 1300000.5, 800000.4),
    phase_energy=(
        EnergyCounters(500000.1, 300000.2, 9000.3, 1000.4, 520000.5, 310000.6),
        EnergyCounters(400000.1, 250000.2, 8000.3, 1200.4, 420000.5, 260000.6),
        EnergyCounters(350000.1, 220000.2, 7000.3, 1300.4, 370000.5, 230000.6),
    ),
)

U32, S32, U64 = "UINT32", "INT32", "UINT64"
# (address, type, raw value) straight from the KSEM interface description (modbus.md 1.2, 1.3):
# powers 0.1 W/var/VA split into (+) and (-), current/voltage 0.001 A/V, PF 0.001, energies 0.1 Wh.
EXPECTED_RAW = [
    (0, U32, 0),
    (2, U32, 12345),
    (4, U32, 3217),
    (6, U32, 0),
    (16, U32, 0),
    (18, U32, 15002),
    (24, S32, -823),
    (26, U32, 49987),
    (40, U32, 0),
    (42, U32, 8001),
    (44, U32, 1002),
    (58, U32, 8103),
    (60, U32, 5678),
    (62, U32, 231234),
    (64, S32, -987),
    (80, U32, 4004),
    (82, U32, 0),
    (96, U32, 4182),
    (100, U32, 3456),
    (102, U32, 229876),
    (104, S32, 957),
    (122, U32, 8348),
    (140, U32, 4321),
    (142, U32, 230500),
    (144, S32, -993),
    (512, U64, 12345678),
    (516, U64, 7654321),
    (520, U64, 234567),
    (524, U64, 34567),
    (544, U64, 13000005),
    (548, U64, 8000004),
    (592, U64, 5000001),
    (596, U64, 3000002),
    (624, U64, 5200005),
    (672, U64, 4000001),
    (708, U64, 2600006),
    (752, U64, 3500001),
    (788, U64, 2300006),
]
WORDS = {U32: 2, S32: 2, U64: 4}


@asynccontextmanager
async def connected(sim: SimulatorHandle) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient(sim.host, port=sim.port, timeout=2, retries=0)
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


async def read(client: AsyncModbusTcpClient, address: int, count: int, unit: int = 1) -> list[int]:
    response = await client.read_holding_registers(address, count=count, device_id=unit)
    assert not response.isError(), response
    assert len(response.registers) == count
    return list(response.registers)


async def read_image(client: AsyncModbusTcpClient, unit: int) -> dict[int, int]:
    blocks = {
        start: await read(client, start, count, unit) for start, count in (*KSEM_READ_BLOCKS, PNP_BLOCK, FLOW_BLOCK)
    }
    return blocks_to_image(blocks)


async def test_known_values_read_back_at_documented_addresses(sim: SimulatorHandle) -> None:
    sim.model.force_reading(KNOWN)
    async with connected(sim) as client:
        image = await read_image(client, unit=71)
        for address, dtype, raw in EXPECTED_RAW:
            words = [image[address + i] for i in range(WORDS[dtype])]
            value = client.convert_from_registers(words, data_type=client.DATATYPE[dtype], word_order="big")
            assert value == raw, f"register {address}"


@pytest.mark.parametrize("unit", [1, 71])
async def test_whole_map_decodes_to_the_served_reading(sim: SimulatorHandle, unit: int) -> None:
    sim.model.force_reading(KNOWN)
    async with connected(sim) as client:
        assert decode_reading(await read_image(client, unit)) == KNOWN


async def test_live_reading_matches_the_model(sim: SimulatorHandle) -> None:
    sim.model.override(pv_power_w=0, house_power_w=3000, wallbox_power_w=0, battery_power_w=0)
    async with connected(sim) as client:
        decoded = decode_reading(await read_image(client, unit=1))
    expected = sim.model.reading()
    assert decoded.active_power_w == pytest.approx(3000, abs=0.1)
    assert decoded.phases[0].active_power_w == pytest.approx(1200, abs=0.1)  # 40 % of the house on L1
    assert decoded.frequency_hz == pytest.approx(expected.frequency_hz, abs=0.03)
    # The plant keeps ticking between the read and now: counters move by a fraction of a Wh.
    assert decoded.energy.active_import_wh == pytest.approx(expected.energy.active_import_wh, abs=2)


async def test_pnp_block_names_the_device(sim: SimulatorHandle) -> None:
    async with connected(sim) as client:
        words = await read(client, *PNP_BLOCK)

        def text(address: int) -> str:
            offset = address - PNP_BLOCK[0]
            value = client.convert_from_registers(words[offset : offset + 16], data_type=client.DATATYPE.STRING)
            assert isinstance(value, str)
            return value.rstrip("\0")

        assert text(8196) == "KOSTAL"
        assert text(8212) == "KSEM"
        assert text(8228) == sim.model.device_info().serial
        assert text(8228).startswith("SIM")
        assert words[8244 - PNP_BLOCK[0]] == 200
        assert decode_device_info(blocks_to_image({PNP_BLOCK[0]: words})) == sim.model.device_info()


async def test_energy_flow_block(sim: SimulatorHandle) -> None:
    sim.model.override(pv_power_w=4000, house_power_w=1000, wallbox_power_w=0, battery_power_w=2000)
    sim.model.set_battery_soc(60)
    async with connected(sim) as client:
        words = await read(client, *FLOW_BLOCK)

    def s32(offset: int) -> int:
        value = client.convert_from_registers(words[offset : offset + 2], data_type=client.DATATYPE.INT32)
        assert isinstance(value, int)
        return value

    assert s32(12) == -1000  # grid = house + wallbox + battery - pv, feeding in
    assert s32(16) == 4000
    assert s32(22) == 1000
    assert s32(24) == 2000
    assert words[26] == 60
    flow = decode_flow(blocks_to_image({FLOW_BLOCK[0]: words}))
    assert flow.pv_power_w == 4000
    assert flow.wallbox_power_w == 0


@pytest.mark.parametrize(("address", "count"), [(200, 2), (146, 4), (8250, 1), (40179, 1), (0xA000 + 54, 1)])
async def test_unmapped_addresses_are_illegal(sim: SimulatorHandle, address: int, count: int) -> None:
    async with connected(sim) as client:
        response = await client.read_holding_registers(address, count=count, device_id=1)
    assert response.isError()
    assert response.exception_code == 2


async def test_registers_are_read_only_and_other_units_absent(sim: SimulatorHandle) -> None:
    async with connected(sim) as client:
        write = await client.write_register(0, 1, device_id=1)
        other_unit = await client.read_holding_registers(0, count=2, device_id=5)
    assert write.isError()
    assert other_unit.isError()
