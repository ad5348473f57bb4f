"""Simulated inverters: scenario, physics, the grid meter's view, and their Modbus servers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from simulator.inverters import BatteryControl
from simulator.model import PlantModel
from simulator.scenario import Scenario, ScenarioError, scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread

NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)
PLANT: dict[str, Any] = {
    "cloudiness": 0,
    "battery": None,
    "wallbox": None,
    "inverters": [
        {"name": "roof south", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 12000, "battery": True},
        {"name": "garage", "type": "piko_epc", "max_ac_w": 5500},
        {"name": "barn", "type": "piko_ci", "max_ac_w": 30000, "pv_peak_w": 20000},
        {
            "name": "shed",
            "type": "piko_mp_plus",
            "max_ac_w": 3600,
            "pv_peak_w": 3000,
            "battery": {"capacity_wh": 5000, "max_power_w": 2500, "min_soc_pct": 10, "max_soc_pct": 90},
        },
    ],
}


def plant(**changes: Any) -> Scenario:
    return scenario_from_dict(PLANT | changes)


def at(seconds: float) -> dt.datetime:
    return NOON + dt.timedelta(seconds=seconds)


@pytest.fixture
def stepped() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=5, scenario=plant(), start=NOON, clock=False) as handle:
        yield handle


# --- scenario --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inverters", "message"),
    [
        ([{"name": "a", "type": "sma"}], r"inverters\[0\]\.type: unknown type 'sma'"),
        (
            [{"name": "a", "type": "piko_iq"}, {"name": "a", "type": "piko_iq"}],
            r"inverters\[1\]\.name: 'a' is used twice",
        ),
        ([{"type": "piko_iq"}], r"inverters\[0\]\.name: missing"),
        ([{"name": "meter", "type": "piko_iq"}], r"inverters\[0\]\.name: 'meter' is reserved"),
        ([{"name": "a", "type": "piko_iq", "battery": True}], r"inverters\[0\]\.battery: a piko_iq inverter has no"),
        ([{"name": "a", "type": "plenticore_bi"}], r"inverters\[0\]\.battery: .* needs a battery"),
        ([{"name": f"i{n}", "type": "piko_iq"} for n in range(6)], r"inverters: at most 5"),
        ([{"name": "a", "type": "piko_iq", "max_ac_w": 0}], r"inverters\[0\]\.max_ac_w: must be greater than 0"),
        ([{"name": "a", "type": "piko_iq", "colour": "red"}], r"inverters\[0\]\.colour: unknown key"),
        (
            [{"name": "a", "type": "plenticore", "battery": {"capacity_wh": -1}}],
            r"inverters\[0\]\.battery\.capacity_wh",
        ),
    ],
)
def test_bad_inverters_are_refused_naming_the_key(inverters: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict({"inverters": inverters})


def test_inverter_defaults() -> None:
    scenario = scenario_from_dict(
        {
            "inverters": [
                {"name": "a", "type": "piko_iq", "max_ac_w": 5500},
                {"name": "b", "type": "plenticore_bi", "battery": True},
            ]
        }
    )
    first, second = scenario.inverters
    assert first.pv_peak_w == 5500 and first.battery is None and first.watchdog_s == 30
    assert second.pv_peak_w == 0 and second.battery is not None


# --- physics ---------------------------------------------------------------------------------
def test_with_inverters_the_plant_pv_is_theirs_and_the_meter_balances() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    outputs = model.inverter_outputs()
    assert set(outputs) == {"roof south", "garage", "barn", "shed"}
    ac_w = sum(o.ac_power_w for o in outputs.values())
    house = model.house_truth()
    assert model.reading().active_power_w == pytest.approx(house.power_w - ac_w, abs=1e-6)
    assert model.pv_available_w() == pytest.approx(sum(o.pv_available_w for o in outputs.values()))
    # The scenario-level array (8 kW default) is not part of the plant.
    assert model.flow().pv_power_w == pytest.approx(sum(o.pv_power_w for o in outputs.values()))


def test_a_limit_settles_within_a_few_seconds_and_the_meter_sees_it() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    before_grid_w = model.reading().active_power_w
    garage = model.inverter_outputs()["garage"]
    assert garage.ac_power_w > 0.6 * garage.max_ac_w  # plenty of sun to curtail
    model.write_inverter_limit("garage", 40)
    model.advance(at(1))
    one_second = model.inverter_outputs()["garage"].ac_power_w
    assert 2200 < one_second < garage.ac_power_w  # on its way, not there yet
    model.advance(at(5))
    settled = model.inverter_outputs()["garage"]
    assert settled.ac_power_w == pytest.approx(0.4 * 5500, rel=0.02)
    assert settled.limit_pct == 40
    assert model.reading().active_power_w == pytest.approx(before_grid_w + garage.ac_power_w - 2200, abs=80)


def test_without_refresh_the_watchdog_restores_full_power() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    model.write_inverter_limit("garage", 40)
    model.advance(at(29))
    assert model.inverter_outputs()["garage"].limit_pct == 40
    model.advance(at(40))
    garage = model.inverter_outputs()["garage"]
    assert garage.limit_pct == 100
    assert garage.ac_power_w == pytest.approx(garage.pv_available_w, rel=0.01)


def test_a_plenticore_battery_follows_its_setpoint_then_returns_to_self_consumption() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    assert model.inverter_outputs()["roof south"].battery_control is BatteryControl.SELF_CONSUMPTION
    model.write_inverter_battery("roof south", -1500)  # discharge
    model.advance(at(10))
    roof = model.inverter_outputs()["roof south"]
    assert roof.battery_power_w == -1500 and roof.battery_control is BatteryControl.SETPOINT
    assert roof.ac_power_w == pytest.approx(roof.pv_power_w + 1500)
    model.advance(at(31))
    assert model.inverter_outputs()["roof south"].battery_control is BatteryControl.SELF_CONSUMPTION


def test_an_mp_plus_battery_idles_without_a_setpoint() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    assert model.inverter_outputs()["shed"].battery_power_w == 0
    model.write_inverter_battery("shed", 9999)  # more than it can: clamped to 2500 W
    model.advance(at(3))
    assert model.inverter_outputs()["shed"].battery_power_w == 2500
    model.write_inverter_battery("shed", None)
    assert model.inverter_outputs()["shed"].battery_control is BatteryControl.IDLE


def test_without_modbus_battery_control_a_plenticore_ignores_setpoints() -> None:
    scenario = plant(inverters=[PLANT["inverters"][0] | {"modbus_battery_control": False}])
    model = PlantModel(scenario, seed=5, start=NOON)
    model.write_inverter_battery("roof south", -1500)
    assert model.inverter_outputs()["roof south"].battery_control is BatteryControl.SELF_CONSUMPTION


@settings(max_examples=20, deadline=None)
@given(
    setpoints=st.lists(st.floats(-5000, 5000), min_size=1, max_size=6),
    steps=st.lists(st.floats(0.5, 3600), min_size=1, max_size=6),
)
def test_battery_soc_integrates_and_stays_within_its_window(setpoints: list[float], steps: list[float]) -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    moment, previous = NOON, model.inverter_outputs()["shed"].battery_soc_pct
    for setpoint, step in zip(setpoints, steps, strict=False):
        model.write_inverter_battery("shed", setpoint)
        power_w = model.inverter_outputs()["shed"].battery_power_w
        moment += dt.timedelta(seconds=step)
        model.advance(moment)
        soc = model.inverter_outputs()["shed"].battery_soc_pct
        assert soc is not None and previous is not None
        assert 10 - 1e-9 <= soc <= 90 + 1e-9
        if power_w and power_w > 0:
            assert soc >= previous - 1e-9
        elif power_w and power_w < 0:
            assert soc <= previous + 1e-9
        previous = soc


def test_one_hour_of_charging_adds_its_energy() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    for second in range(0, 3600, 20):  # refreshed well within the 30 s watchdog
        model.advance(at(second))
        model.write_inverter_battery("shed", 1000)
    model.advance(at(3600))
    # 1 kWh into 5 kWh: +20 % from 50 %.
    assert model.inverter_outputs()["shed"].battery_soc_pct == pytest.approx(70, abs=0.1)


def test_same_writes_at_the_same_times_give_the_same_plant() -> None:
    def run() -> tuple[float, ...]:
        model = PlantModel(plant(cloudiness=0.6), seed=9, start=NOON)
        model.advance(at(3.3))
        model.write_inverter_limit("garage", 55)
        model.write_inverter_battery("roof south", 700)
        model.advance(at(47.9))
        return (model.reading().active_power_w, *(o.ac_power_w for o in model.inverter_outputs().values()))

    assert run() == run()


def test_a_test_cloud_dims_every_array_until_it_passes() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    clear = model.pv_available_w()
    model.set_cloud(0.75, until=at(60))
    model.advance(at(10))
    assert model.pv_available_w() == pytest.approx(clear * 0.25, rel=0.02)
    model.advance(at(61))
    assert model.pv_available_w() == pytest.approx(clear, rel=0.02)


def test_an_extra_phase_load_shows_on_its_phase_at_the_meter() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    before, house = model.reading(), model.house_truth()
    model.add_house_phase_load(0, 0, 3000)
    after = model.reading()
    assert after.phases[2].active_power_w - before.phases[2].active_power_w == pytest.approx(3000, abs=1)
    assert after.phases[0].active_power_w == pytest.approx(before.phases[0].active_power_w, abs=1)
    assert model.house_truth().power_w == pytest.approx(house.power_w + 3000, abs=1)
    assert model.house_truth().phase_current_a[2] > house.phase_current_a[2] + 12
    model.clear_house_phase_load()
    assert model.house_truth().power_w == pytest.approx(house.power_w, abs=1)


def test_unknown_inverters_are_named() -> None:
    model = PlantModel(plant(), seed=5, start=NOON)
    with pytest.raises(KeyError, match="no inverter 'attic'; known: roof south"):
        model.write_inverter_limit("attic", 50)


# --- servers ---------------------------------------------------------------------------------
async def test_each_inverter_has_its_own_port_and_time_stands_still_until_stepped(
    stepped: SimulatorHandle,
) -> None:
    assert set(stepped.ports) == {"meter", "roof south", "garage", "barn", "shed"}
    assert len(set(stepped.ports.values())) == 5
    assert stepped.model.now == NOON
    stepped.step(at(2.5))
    assert stepped.model.now == at(2.5)


async def test_the_read_only_meter_refuses_writes_and_inverters_refuse_bad_values(stepped: SimulatorHandle) -> None:
    meter = AsyncModbusTcpClient(stepped.host, port=stepped.port, timeout=2, retries=0)
    roof = AsyncModbusTcpClient(stepped.host, port=stepped.ports["roof south"], timeout=2, retries=0)
    assert await meter.connect() and await roof.connect()
    try:
        refused = await meter.write_register(0, 1, device_id=1)
        too_much = await roof.write_register(533, 101, device_id=71)
        read_only = await roof.write_register(172, 1, device_id=71)
        accepted = await roof.write_register(533, 60, device_id=71)
        limit = await roof.read_holding_registers(533, count=1, device_id=71)
    finally:
        meter.close()
        roof.close()
    assert refused.isError() and refused.exception_code == 2
    assert too_much.isError() and too_much.exception_code == 3
    assert read_only.isError() and read_only.exception_code == 2
    assert not accepted.isError()
    assert limit.registers == [60]
    assert stepped.model.inverter_outputs()["roof south"].limit_pct == 60


def test_faults_hit_only_the_named_inverter(stepped: SimulatorHandle) -> None:
    stepped.set_fault("exception", device="garage")
    with pytest.raises(KeyError, match="no device server 'attic'"):
        stepped.set_fault("offline", device="attic")
    assert stepped.simulator.servers["garage"].fault.kind.value == "exception"  # type: ignore[attr-defined]
    assert stepped.simulator.servers["barn"].fault.kind.value == "none"  # type: ignore[attr-defined]


def test_a_generic_sunspec_client_walks_the_inverter_chain(stepped: SimulatorHandle) -> None:
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    stepped.step(at(1))
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr=stepped.host, ipport=stepped.ports["shed"], timeout=2)
    try:
        device.scan()
        models = set(device.models)
        common = device.common[0]
        inverter = device.models[103][0]
        battery = device.models[802][0]
        controls = device.models[123][0]
        truth = stepped.model.inverter_outputs()["shed"]
        assert {1, 103, 120, 123, 160, 802, 124} <= models
        assert common.Mn.value == "KOSTAL" and common.Md.value.startswith("PIKO MP plus")
        assert inverter.W.cvalue == pytest.approx(truth.ac_power_w, abs=1)
        assert inverter.DCW.cvalue == pytest.approx(truth.pv_power_w, abs=1)
        assert battery.SoC.cvalue == pytest.approx(truth.battery_soc_pct, abs=0.1)
        assert controls.WMaxLimPct.cvalue == pytest.approx(100)
        assert device.models[120][0].WRtg.cvalue == 3600
    finally:
        device.close()
