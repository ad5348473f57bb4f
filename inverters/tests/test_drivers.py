"""The inverter drivers against simulated inverters on loopback: what a user would notice."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from energy.config import HouseBatteryConfig, InverterConfig, KsemTcpConfig, SerialConfig
from energy.devices import InverterReading
from energy.state import Setpoint
from inverters.drivers import InverterError, connect_inverter
from meter.drivers.ksem_tcp import KsemTcpMeter
from simulator.inverters import BatteryControl, register_source
from simulator.scenario import scenario_from_dict
from simulator.server import ModbusDeviceServer
from simulator.testing import SimulatorHandle, run_simulator_in_thread

NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)
BATTERY = HouseBatteryConfig(type="byd_hvs", modules=3, capacity_wh=7680, max_charge_w=5000, max_discharge_w=5000)
PLANT: dict[str, Any] = {
    "cloudiness": 0,
    "battery": None,
    "wallbox": None,
    "inverters": [
        {
            "name": "roof south",
            "type": "plenticore",
            "max_ac_w": 10000,
            "pv_peak_w": 12000,
            "battery": {"capacity_wh": 7680, "max_power_w": 5000, "min_soc_pct": 10, "max_soc_pct": 95},
        },
        {"name": "garage", "type": "piko_epc", "max_ac_w": 5500},
        {"name": "barn", "type": "piko_ci", "max_ac_w": 30000, "pv_peak_w": 20000},
        {"name": "shed", "type": "piko_mp_plus", "max_ac_w": 3600, "pv_peak_w": 3000, "battery": True},
        {"name": "east", "type": "piko_iq", "max_ac_w": 5500},
    ],
}
SPECS = {inverter["name"]: inverter for inverter in PLANT["inverters"]}


def at(seconds: float) -> dt.datetime:
    return NOON + dt.timedelta(seconds=seconds)


class FakeClock:
    """Seconds as the product's cycle counts them; set by the test, like the replay's clock."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=5, scenario=scenario_from_dict(PLANT), start=NOON, clock=False) as handle:
        yield handle


def config_for(sim: SimulatorHandle, name: str, **changes: Any) -> InverterConfig:
    spec = SPECS[name]
    settings: dict[str, Any] = {
        "name": name,
        "type": spec["type"],
        "max_ac_w": spec["max_ac_w"],
        "host": sim.host,
        "port": sim.ports[name],
        "unit_id": 71,
        "timeout_s": 1.0,
        "battery": BATTERY if spec.get("battery") else None,
    }
    return InverterConfig(**(settings | changes))


def limit(value: float) -> Setpoint:
    return Setpoint(device="", quantity="active_power_limit_pct", value=value, reason="test")


def battery(value: float) -> Setpoint:
    return Setpoint(device="", quantity="battery_power_w", value=value, reason="test")


@pytest.mark.parametrize("name", ["roof south", "garage", "barn", "shed", "east"])
async def test_a_read_says_what_the_inverter_really_does(sim: SimulatorHandle, name: str) -> None:
    sim.step(at(1))
    driver = connect_inverter(config_for(sim, name))
    try:
        reading = await driver.read()
    finally:
        driver.close()
    truth = sim.model.inverter_outputs()[name]
    assert isinstance(reading, InverterReading)
    assert reading.ac_power_w == pytest.approx(truth.ac_power_w, abs=1)
    assert reading.pv_power_w == pytest.approx(truth.pv_power_w, abs=1)
    assert reading.limit_pct == 100
    if truth.battery_power_w is None:
        assert reading.battery_power_w is None and reading.battery_soc_pct is None
    else:
        assert reading.battery_power_w == pytest.approx(truth.battery_power_w, abs=1)
        assert reading.battery_soc_pct == pytest.approx(truth.battery_soc_pct, abs=0.1)


@pytest.mark.parametrize(
    ("name", "product", "firmware"),
    [("roof south", "PLENTICORE plus 10", 215), ("garage", "PIKO 5.5", 307), ("shed", "PIKO MP plus 3.6-2", 307)],
)
async def test_identify_names_vendor_product_and_serial(
    sim: SimulatorHandle, name: str, product: str, firmware: int
) -> None:
    driver = connect_inverter(config_for(sim, name))
    try:
        info = await driver.identify()
    finally:
        driver.close()
    assert (info.vendor, info.product, info.firmware_version) == ("KOSTAL", product, firmware)
    assert info.serial.startswith("SIM") and len(info.serial) == 10


async def test_identify_reports_the_hardware_version_of_kostals_own_map(sim: SimulatorHandle) -> None:
    """INV-2: PLENTICORE and PIKO IQ show their hardware version (register 36, in hex as KOSTAL
    prints it); SunSpec's common model has no such point, so those show none."""
    versions = {}
    for name in ("roof south", "east", "garage"):
        driver = connect_inverter(config_for(sim, name))
        try:
            versions[name] = (await driver.identify()).hardware
        finally:
            driver.close()
    assert versions == {"roof south": "0x0200", "east": "0x0200", "garage": ""}


@pytest.mark.parametrize("name", ["east", "garage", "shed"])
async def test_a_written_limit_settles_and_the_grid_meter_sees_it(sim: SimulatorHandle, name: str) -> None:
    meter = KsemTcpMeter(KsemTcpConfig(sim.host, sim.port, timeout_s=1.0))
    driver = connect_inverter(config_for(sim, name))
    try:
        before = sim.model.inverter_outputs()[name]
        grid_before = (await meter.read()).reading.active_power_w
        await driver.write([limit(40)])
        sim.step(at(5))
        reading = await driver.read()
        grid_after = (await meter.read()).reading.active_power_w
    finally:
        driver.close()
        meter.close()
    max_ac_w = SPECS[name]["max_ac_w"]
    assert before.ac_power_w > 0.5 * max_ac_w
    assert reading.limit_pct == pytest.approx(40)
    assert reading.ac_power_w == pytest.approx(0.4 * max_ac_w, rel=0.02)
    # Less feed-in: the grid reading rises by what the inverter gave up.
    assert grid_after - grid_before == pytest.approx(before.ac_power_w - reading.ac_power_w, abs=100)


async def test_a_request_for_zero_percent_reaches_a_plenticore_as_its_minimum(sim: SimulatorHandle) -> None:
    driver = connect_inverter(config_for(sim, "east"))
    try:
        await driver.write([limit(0)])
        sim.step(at(10))
        reading = await driver.read()
    finally:
        driver.close()
    assert reading.limit_pct == 1
    assert reading.ac_power_w == pytest.approx(55, abs=5)


async def test_writes_only_on_change_or_to_feed_the_watchdog(sim: SimulatorHandle) -> None:
    clock = FakeClock()
    driver = connect_inverter(config_for(sim, "east"), clock=clock)

    def writes() -> int:
        return sim.model.inverter_outputs()["east"].setpoint_writes

    try:
        for second in range(0, 9):
            clock.now_s = second
            await driver.write([limit(40)])
        assert writes() == 1
        clock.now_s = 10
        await driver.write([limit(40)])
        assert writes() == 2  # refreshed after 10 s
        await driver.write([limit(45)])
        assert writes() == 3  # changed
    finally:
        driver.close()


async def test_a_refreshed_limit_holds_and_silence_lets_the_watchdog_restore_full_power(
    sim: SimulatorHandle,
) -> None:
    clock = FakeClock()
    driver = connect_inverter(config_for(sim, "garage"), clock=clock)
    try:
        for second in range(0, 61):  # one cycle per simulated second
            clock.now_s = second
            sim.step(at(second))
            await driver.write([limit(40)])
        held = await driver.read()
        sim.step(at(60 + 31))  # the product stops writing (it crashed)
        released = await driver.read()
    finally:
        driver.close()
    assert held.limit_pct == pytest.approx(40)
    assert held.ac_power_w == pytest.approx(2200, rel=0.02)
    assert released.limit_pct == 100
    assert released.ac_power_w > 3000


async def test_no_setpoint_releases_the_limit_once(sim: SimulatorHandle) -> None:
    driver = connect_inverter(config_for(sim, "east"))
    try:
        await driver.write([limit(40)])
        await driver.write([])
        released = sim.model.inverter_outputs()["east"]
        await driver.write([])
        await driver.write([])
    finally:
        driver.close()
    assert released.limit_pct == 100
    assert sim.model.inverter_outputs()["east"].setpoint_writes == released.setpoint_writes == 2


async def test_a_piko_ci_is_never_written(sim: SimulatorHandle) -> None:
    driver = connect_inverter(config_for(sim, "barn", unit_id=1))
    try:
        before = await driver.read()
        await driver.write([limit(40), battery(1000)])
        sim.step(at(5))
        after = await driver.read()
    finally:
        driver.close()
    barn = sim.model.inverter_outputs()["barn"]
    assert barn.setpoint_writes == 0
    assert after.limit_pct == 100
    assert after.ac_power_w == pytest.approx(before.ac_power_w, rel=0.01)


async def test_a_plenticore_battery_takes_the_setpoint_with_its_sign_and_is_handed_back(
    sim: SimulatorHandle,
) -> None:
    driver = connect_inverter(config_for(sim, "roof south"))
    try:
        await driver.write([battery(-2000)])  # product: discharge 2 kW
        sim.step(at(2))
        discharging = await driver.read()
        truth = sim.model.inverter_outputs()["roof south"]
        await driver.write([])  # released: 0 W now, its own control once the watchdog fires
        sim.step(at(40))
        after = sim.model.inverter_outputs()["roof south"]
    finally:
        driver.close()
    assert truth.battery_power_w == -2000 and truth.battery_control is BatteryControl.SETPOINT
    assert discharging.battery_power_w == pytest.approx(-2000)
    assert discharging.ac_power_w == pytest.approx(truth.pv_power_w + 2000, abs=1)
    assert after.battery_control is BatteryControl.SELF_CONSUMPTION


async def test_without_management_mode_2_no_battery_setpoint_is_written() -> None:
    scenario = scenario_from_dict(PLANT | {"inverters": [PLANT["inverters"][0] | {"modbus_battery_control": False}]})
    with run_simulator_in_thread(seed=5, scenario=scenario, start=NOON, clock=False) as sim:
        driver = connect_inverter(config_for(sim, "roof south"))
        try:
            await driver.write([battery(-2000)])
            reading = await driver.read()
        finally:
            driver.close()
        roof = sim.model.inverter_outputs()["roof south"]
    assert roof.setpoint_writes == 0
    assert roof.battery_control is BatteryControl.SELF_CONSUMPTION
    assert reading.battery_power_w == pytest.approx(roof.battery_power_w, abs=1)


async def test_an_mp_plus_battery_follows_the_setpoint_and_stops_when_released(sim: SimulatorHandle) -> None:
    driver = connect_inverter(config_for(sim, "shed"))
    try:
        await driver.read()
        await driver.write([battery(1500)])
        sim.step(at(3))
        charging = await driver.read()
        await driver.write([battery(-800)])
        sim.step(at(4))
        discharging = await driver.read()
        await driver.write([])
        sim.step(at(5))
        released = await driver.read()
    finally:
        driver.close()
    assert charging.battery_power_w == pytest.approx(1500, abs=1)
    assert discharging.battery_power_w == pytest.approx(-800, abs=1)
    assert released.battery_power_w == 0
    assert sim.model.inverter_outputs()["shed"].battery_control is BatteryControl.IDLE


async def test_the_battery_soc_stays_within_its_window_while_charging_for_hours(sim: SimulatorHandle) -> None:
    sim.model.set_battery_soc(94, inverter="roof south")
    clock = FakeClock()
    driver = connect_inverter(config_for(sim, "roof south"), clock=clock)
    try:
        for second in range(0, 3 * 3600, 10):
            clock.now_s = second
            sim.step(at(second))
            await driver.write([battery(5000)])
        reading = await driver.read()
    finally:
        driver.close()
    assert reading.battery_soc_pct == pytest.approx(95, abs=0.01)
    assert reading.battery_power_w == 0  # full: it stops charging


async def test_a_slow_inverter_fails_within_its_timeout_while_another_answers(sim: SimulatorHandle) -> None:
    sim.set_fault("slow", delay_s=5.0, device="garage")
    slow = connect_inverter(config_for(sim, "garage", timeout_s=0.3))
    fast = connect_inverter(config_for(sim, "east", timeout_s=0.3))
    finished: list[str] = []

    async def read(name: str, driver: Any) -> InverterReading:
        try:
            return await driver.read()
        finally:
            finished.append(name)

    try:
        results = await asyncio.gather(read("garage", slow), read("east", fast), return_exceptions=True)
    finally:
        slow.close()
        fast.close()
    assert isinstance(results[1], InverterReading)
    assert isinstance(results[0], InverterError)
    assert str(results[0]) == "no answer within 0.3 s"
    assert finished == ["east", "garage"]


async def test_an_offline_inverter_is_reported_and_read_again_when_back(sim: SimulatorHandle) -> None:
    driver = connect_inverter(config_for(sim, "east", timeout_s=0.5))
    try:
        await driver.read()
        sim.set_fault("offline", device="east")
        with pytest.raises(InverterError, match=rf"connection to 127.0.0.1:{sim.ports['east']} lost"):
            await driver.read()
        with pytest.raises(InverterError, match=rf"cannot connect to 127.0.0.1:{sim.ports['east']}"):
            await driver.read()
        sim.set_fault("none", device="east")
        assert (await driver.read()).ac_power_w > 0
    finally:
        driver.close()


@pytest.mark.parametrize("name", ["east", "shed"])
async def test_a_failing_inverter_names_the_modbus_exception(sim: SimulatorHandle, name: str) -> None:
    sim.set_fault("exception", device=name)
    driver = connect_inverter(config_for(sim, name))
    try:
        with pytest.raises(InverterError, match=r"answered Modbus exception 4 \(device failure\) reading"):
            await driver.read()
        with pytest.raises(InverterError, match="exception 4"):
            await driver.write([limit(50)])
    finally:
        driver.close()


async def test_garbage_answers_are_errors_not_readings(sim: SimulatorHandle) -> None:
    sim.set_fault("garbage", device="east")
    driver = connect_inverter(config_for(sim, "east"))
    try:
        with pytest.raises(InverterError):
            await driver.read()
    finally:
        driver.close()


async def test_a_non_sunspec_device_is_named(sim: SimulatorHandle) -> None:
    # The KOSTAL-map inverter has no SunSpec chain.
    driver = connect_inverter(config_for(sim, "east", type="piko_epc"))
    try:
        with pytest.raises(InverterError, match="exception 2"):
            await driver.read()
    finally:
        driver.close()


async def test_the_same_map_over_rs485_framing(sim: SimulatorHandle) -> None:
    """RTU framing over a TCP socket (an RS485 gateway): the driver's serial path end to end."""
    source = register_source(sim.model, "east")
    server = ModbusDeviceServer("east rtu", source, port=0, unit_ids=(71,), framer=FramerType.RTU)
    await server.start()
    serial = SerialConfig(port=f"socket://127.0.0.1:{server.port}", baudrate=19200)
    driver = connect_inverter(config_for(sim, "east", host="", serial=serial))
    try:
        reading = await driver.read()
        await driver.write([limit(70)])
    finally:
        driver.close()
        await server.stop()
    assert reading.ac_power_w == pytest.approx(sim.model.inverter_outputs()["east"].ac_power_w, rel=0.01)
    assert sim.model.inverter_outputs()["east"].limit_pct == 70


def test_connect_inverter_refuses_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown inverter type 'sma'"):
        connect_inverter(InverterConfig(name="x", type="sma", max_ac_w=1000))


async def test_a_plenticore_switched_to_abcd_is_still_read_right(sim: SimulatorHandle) -> None:
    """Register 5 is writable (KOSTAL's table): an inverter set to ABCD serves that word order,
    and the driver, reading register 5 per connection, follows it."""
    sim.step(at(1))
    client = AsyncModbusTcpClient(sim.host, port=sim.ports["east"], timeout=1, retries=0)
    assert await client.connect()
    try:
        assert not (await client.write_register(5, 1, device_id=71)).isError()
        assert (await client.read_holding_registers(5, count=1, device_id=71)).registers == [1]
        assert (await client.write_register(5, 7, device_id=71)).isError(), "only 0 and 1 are word orders"
    finally:
        client.close()
    driver = connect_inverter(config_for(sim, "east"))
    try:
        reading = await driver.read()
    finally:
        driver.close()
    assert reading.ac_power_w == pytest.approx(sim.model.inverter_outputs()["east"].ac_power_w, abs=1)
