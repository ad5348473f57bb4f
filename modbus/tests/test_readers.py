"""What evcc and Home Assistant read from the product's Modbus slave (docs/readers.md).

evcc's ``kostal-ksem`` template walks the SunSpec chain and reads model 203's points; pysunspec2
(the SunSpec Alliance's library, on which Home Assistant's SunSpec integration is built) does the
same walk here. The Home Assistant Modbus block is loaded from docs/readers.md itself and decoded
the way Home Assistant's Modbus integration decodes a sensor (struct, scale, precision), so the
page cannot drift from what the slave serves.
"""

from __future__ import annotations

import asyncio
import re
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import AsyncModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from energy.state import PlantState
from modbus.tests.conftest import make_state, meter_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "readers.md"

# evcc's kostal-ksem template: its value -> (the model 203 point, evcc's scale).
EVCC_TEMPLATE = {
    "power": ("W", 1.0),
    "energy": ("TotWhImp", 0.001),
    "returnenergy": ("TotWhExp", 0.001),
    "current_l1": ("AphA", 1.0),
    "current_l2": ("AphB", 1.0),
    "current_l3": ("AphC", 1.0),
    "voltage_l1": ("PhVphA", 1.0),
    "voltage_l2": ("PhVphB", 1.0),
    "voltage_l3": ("PhVphC", 1.0),
    "power_l1": ("WphA", 1.0),
    "power_l2": ("WphB", 1.0),
    "power_l3": ("WphC", 1.0),
}


def evcc_expected(state: PlantState) -> dict[str, float]:
    meter = meter_of(state)
    values = {
        "power": meter.active_power_w,
        "energy": state.totals.active_import_wh / 1000,
        "returnenergy": state.totals.active_export_wh / 1000,
    }
    for n in range(3):
        values[f"current_l{n + 1}"] = meter.phases[n].current_a
        values[f"voltage_l{n + 1}"] = meter.phases[n].voltage_v
        values[f"power_l{n + 1}"] = meter.phases[n].active_power_w
    return values


def evcc_read(port: int, unit_id: int) -> dict[str, tuple[float, float]]:
    """The template's values as evcc computes them: (value, the point's resolution)."""
    device = SunSpecModbusClientDeviceTCP(slave_id=unit_id, ipaddr="127.0.0.1", ipport=port, timeout=3)
    try:
        device.scan()
        assert 203 in device.models, f"model 203 not found on unit {unit_id}: {sorted(device.models)}"
        model = device.models[203][0]
        model.read()
        got = {}
        for value, (name, scale) in EVCC_TEMPLATE.items():
            point = getattr(model, name)
            assert point.cvalue is not None, f"{name} reads 'not implemented' (evcc would fail or show NaN)"
            step = 10.0 ** getattr(model, point.pdef["sf"]).value if "sf" in point.pdef else 1.0
            got[value] = (float(point.cvalue) * scale, step * scale)
        return got
    finally:
        device.close()


@pytest.mark.parametrize("unit_id", [71, 1])
@pytest.mark.parametrize("power_w", [1234.5, -5678.9], ids=["purchase", "feed-in"])
async def test_evcc_kostal_ksem_template_reads_the_snapshot(backend, start_slave, unit_id, power_w):
    state = make_state(power_w=power_w)
    backend.publish(state)
    slave = await start_slave(backend)
    got = await asyncio.to_thread(evcc_read, slave.tcp.port, unit_id)
    for value, want in evcc_expected(state).items():
        read, step = got[value]
        assert abs(read - want) <= step / 2 + 1e-9, f"evcc {value}: {read} != {want} (step {step})"
    # evcc's grid meter: purchase positive, feed-in negative.
    assert (got["power"][0] > 0) == (power_w > 0)


# --- Home Assistant's Modbus integration -------------------------------------------------------
HA_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f"}


def home_assistant_block() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- home-assistant-modbus -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, "docs/readers.md lost its Home Assistant block"
    config: dict[str, Any] = yaml.safe_load(match.group(1))
    return config


def ha_decode(sensor: dict[str, Any], registers: list[int]) -> float:
    """Home Assistant's sensor value: the registers big-endian (swap: none), times scale + offset, rounded."""
    raw = struct.unpack(">" + HA_FORMATS[sensor["data_type"]], struct.pack(f">{len(registers)}H", *registers))[0]
    value = raw * sensor.get("scale", 1) + sensor.get("offset", 0)
    return round(value, sensor.get("precision", 0))


def ha_expected(state: PlantState) -> dict[str, float]:
    meter = meter_of(state)
    return {
        "KSEM power purchase": max(meter.active_power_w, 0.0),
        "KSEM power feed-in": max(-meter.active_power_w, 0.0),
        "KSEM frequency": meter.frequency_hz,
        "KSEM voltage L1": meter.phases[0].voltage_v,
        "KSEM current L1": meter.phases[0].current_a,
        "KSEM energy purchased": state.totals.active_import_wh / 1000,
        "KSEM energy fed in": state.totals.active_export_wh / 1000,
    }


@pytest.mark.parametrize("power_w", [1234.5, -5678.9], ids=["purchase", "feed-in"])
async def test_home_assistant_modbus_block_of_the_docs_reads_the_snapshot(backend, start_slave, power_w):
    state = make_state(power_w=power_w)
    backend.publish(state)
    slave = await start_slave(backend)
    (hub,) = home_assistant_block()["modbus"]
    assert hub["type"] == "tcp"
    expected = ha_expected(state)
    sensors = hub["sensors"]
    assert {s["name"] for s in sensors} == set(expected), "every documented sensor is checked"
    client = AsyncModbusTcpClient("127.0.0.1", port=slave.tcp.port, timeout=2, retries=0)
    assert await client.connect()
    try:
        for sensor in sensors:
            count = struct.calcsize(HA_FORMATS[sensor["data_type"]]) // 2
            read = client.read_holding_registers if sensor["input_type"] == "holding" else client.read_input_registers
            response = await read(sensor["address"], count=count, device_id=sensor["slave"])
            assert not response.isError(), (sensor["name"], response)
            value = ha_decode(sensor, list(response.registers))
            step = 10.0 ** -sensor["precision"]
            assert abs(value - expected[sensor["name"]]) <= step, (sensor["name"], value, expected[sensor["name"]])
            if sensor.get("state_class") == "total_increasing":
                assert sensor["unit_of_measurement"] == "kWh" and sensor["device_class"] == "energy"
    finally:
        client.close()
