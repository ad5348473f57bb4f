"""The Modbus TCP slave against independent clients: pymodbus, pysunspec2, and the product's own KSEM driver."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymodbus.client import AsyncModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from energy.config import KsemTcpConfig
from meter import registers
from meter.drivers.ksem_tcp import KsemTcpMeter
from modbus import registermap
from modbus.tests.conftest import MemoryBackend, info, make_state, meter_of, stale_copy

BLOCKS = ((0, 28), (40, 108), (512, 120), (632, 120), (752, 40), (8192, 58), (40960, 62))


async def read_blocks(port: int, unit_id: int = 1) -> dict[int, int]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    try:
        blocks = {}
        for start, count in BLOCKS:
            response = await client.read_holding_registers(start, count=count, device_id=unit_id)
            assert not response.isError(), (start, response)
            blocks[start] = list(response.registers)
        return registers.blocks_to_image(blocks)
    finally:
        client.close()


def assert_close(actual: float, expected: float, step: float, what: str) -> None:
    assert abs(actual - expected) <= step / 2 + 1e-9, f"{what}: {actual} != {expected} (step {step})"


async def test_pymodbus_reads_every_block_and_decodes_the_snapshot(backend, start_slave):
    state = make_state()
    backend.publish(state)
    slave = await start_slave(backend)
    for unit_id in (1, 71):
        image = await read_blocks(slave.tcp.port, unit_id)
        reading = registers.decode_reading(image)
        meter = meter_of(state)
        assert_close(reading.active_power_w, meter.active_power_w, 0.1, "P")
        assert_close(reading.reactive_power_var, meter.reactive_power_var, 0.1, "Q")
        assert_close(reading.frequency_hz, meter.frequency_hz, 0.001, "f")
        assert_close(reading.power_factor, meter.power_factor, 0.001, "PF")
        for n in range(3):
            got, want = reading.phases[n], meter.phases[n]
            assert_close(got.voltage_v, want.voltage_v, 0.001, f"U{n}")
            assert_close(got.current_a, want.current_a, 0.001, f"I{n}")
            assert_close(got.active_power_w, want.active_power_w, 0.1, f"P{n}")
            assert_close(got.reactive_power_var, want.reactive_power_var, 0.1, f"Q{n}")
            assert_close(got.power_factor, want.power_factor, 0.001, f"PF{n}")
        # Energy registers: the totals since commissioning, not the meter's raw counters.
        for field, value in state.totals.as_dict().items():
            assert_close(getattr(reading.energy, field), value, 0.1, field)
        for n in range(3):
            for field, value in state.phase_totals[n].as_dict().items():
                assert_close(getattr(reading.phase_energy[n], field), value, 0.1, f"{field} L{n + 1}")
        assert registers.decode_device_info(image) == info()
        flow = registers.decode_flow(image)
        assert flow.pv_power_w == 4200 and flow.battery_power_w == -800 and flow.battery_soc_pct == 63
        assert flow.house_power_w == 3100 and flow.wallbox_power_w is None
        assert registers.unpack([registers.FLOW_SPECS[0]], image)["grid_power"] == round(meter.active_power_w)
        assert all(image[a] == 0 for a in range(41014, 41022))  # reserved


async def test_the_products_own_ksem_driver_reads_its_own_slave(backend, start_slave):
    state = make_state()
    backend.publish(state)
    slave = await start_slave(backend)
    meter = KsemTcpMeter(KsemTcpConfig("127.0.0.1", slave.tcp.port, unit_id=71, timeout_s=1.0))
    try:
        sample = await meter.read()
    finally:
        meter.close()
    served = registermap.served_reading(state)
    assert served is not None
    expected = registers.decode_reading(registers.encode_reading(served))
    assert sample.reading == expected
    assert sample.flow is not None and sample.flow.pv_power_w == 4200


async def test_pysunspec2_scans_models_1_and_203_with_the_snapshots_values(backend, start_slave):
    state = make_state()
    backend.publish(state)
    slave = await start_slave(backend)

    def scan() -> dict[str, float]:
        device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=slave.tcp.port, timeout=3)
        try:
            device.scan()
            assert 1 in device.models and 203 in device.models
            assert device.common[0].Mn.value == "KOSTAL"
            meter = device.models[203][0]
            meter.read()
            points = ("W", "WphA", "PhVphA", "Hz", "TotWhImp", "TotWhExp")
            values = {name: float(getattr(meter, name).cvalue) for name in points}
            steps = {
                name: 10.0 ** getattr(meter, getattr(meter, name).pdef["sf"]).value
                for name in points
                if "sf" in getattr(meter, name).pdef
            }
            return values | {f"step_{k}": v for k, v in steps.items()}
        finally:
            device.close()

    got = await asyncio.to_thread(scan)
    meter = meter_of(state)
    expected = {
        "W": meter.active_power_w,
        "WphA": meter.phases[0].active_power_w,
        "PhVphA": meter.phases[0].voltage_v,
        "Hz": meter.frequency_hz,
        "TotWhImp": state.totals.active_import_wh,
        "TotWhExp": state.totals.active_export_wh,
    }
    for name, value in expected.items():
        assert abs(got[name] - value) <= got[f"step_{name}"], (name, got[name], value)


async def exception_code(port: int, address: int, count: int, unit_id: int = 1) -> int | None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    try:
        response = await client.read_holding_registers(address, count=count, device_id=unit_id)
        return response.exception_code if response.isError() else None
    finally:
        client.close()


async def test_unit_ids_and_illegal_requests(backend, start_slave):
    slave = await start_slave(backend)
    port = slave.tcp.port
    assert await exception_code(port, 0, 28, unit_id=71) is None
    assert await exception_code(port, 0, 28, unit_id=5) == 0x0B
    assert await exception_code(port, 140, 20) == 2  # across the end of a block
    assert await exception_code(port, 1000, 1) == 2
    assert await exception_code(port, 40000, 125) is None
    assert await exception_code(port, 40999, 40) == 2


async def test_a_stale_measurement_answers_exception_4_and_is_logged_once(backend, start_slave, caplog):
    caplog.set_level(logging.INFO, logger="modbus")
    slave = await start_slave(backend, max_age_s=5.0)
    port = slave.tcp.port
    assert await exception_code(port, 0, 28) is None
    backend.publish(make_state(2, online=False))
    await asyncio.sleep(0.1)
    assert await exception_code(port, 0, 28) == 4
    assert await exception_code(port, 40000, 10) == 4
    assert await exception_code(port, 1000, 1) == 2  # still an illegal address, not a failure
    backend.publish(make_state(3))
    await asyncio.sleep(0.1)
    assert await exception_code(port, 0, 28) is None
    backend.publish(stale_copy(make_state(4), 6.0))  # older than the health limit
    await asyncio.sleep(0.1)
    assert await exception_code(port, 512, 4) == 4
    await asyncio.sleep(0.1)
    warnings = [r.getMessage() for r in caplog.records if "exception 4" in r.getMessage()]
    assert len(warnings) == 2, warnings  # one per outage, not one per poll
    assert "meter offline" in warnings[0] and "s old" in warnings[1]


async def test_a_new_snapshot_is_served_within_one_poll(backend, start_slave):
    slave = await start_slave(backend)
    backend.publish(make_state(7, power_w=2000.0))
    await asyncio.sleep(0.1)
    image = await read_blocks(slave.tcp.port)
    assert registers.decode_reading(image).energy.active_import_wh == pytest.approx(1_234_567.8 + 7, abs=0.05)


async def test_the_slave_switches_off_and_tls_closes_the_plain_port(backend, start_slave):
    from modbus.slave.server import SlaveConfig

    slave = await start_slave(backend)
    assert slave.tcp is not None and slave.tls is None
    backend.config = SlaveConfig(plant_id=backend.config.plant_id, tcp_enabled=True, tls_enabled=True)
    await slave.reload_config()
    assert slave.tcp is None and slave.tls is not None
    backend.config = SlaveConfig(plant_id=backend.config.plant_id, tcp_enabled=False)
    await slave.reload_config()
    assert slave.tcp is None and slave.tls is None


async def test_pipelined_requests_are_all_answered(backend, start_slave):
    slave = await start_slave(backend)
    reader, writer = await asyncio.open_connection("127.0.0.1", slave.tcp.port)
    requests = b"".join(bytes([0, t, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2]) for t in range(1, 4))
    writer.write(requests)
    answers = [await asyncio.wait_for(reader.readexactly(13), 2) for _ in range(3)]
    assert [a[1] for a in answers] == [1, 2, 3]
    writer.close()


def test_memory_backend_matches_the_backend_protocol():
    from modbus.slave.server import Backend

    backend: Backend = MemoryBackend()
    assert backend.load_config().plant_id == 3
