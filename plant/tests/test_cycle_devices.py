"""The cycle with scripted devices: setpoints reach the devices with their reasons, a failing
controller or a slow device never stops the cycle, and the snapshot says what happened."""

from __future__ import annotations

import datetime as dt
import time

from energy.config import (
    ACTIVE_POWER_LIMIT_PCT,
    BATTERY_POWER_W,
    BatteryManagementSettings,
    FeedInLimitSettings,
    HouseBatteryConfig,
    InverterConfig,
    PlantConfig,
)
from energy.control import Decision, Inputs
from energy.counters import CounterState
from plant.controllers import CONTROLLERS
from plant.cycle import PlantRuntime
from plant.testing import RecordingPublisher, ScriptedInverter, ScriptedMeter, scripted

T0 = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)
BATTERY = HouseBatteryConfig(type="byd_hvs", modules=4, capacity_wh=10_240, max_charge_w=5_000, max_discharge_w=5_000)


def config(**kwargs) -> PlantConfig:
    defaults = {
        "plant_id": 1,
        "name": "test",
        "time_zone": "Europe/Berlin",
        "installation_position": "grid",
        "meter": None,
        "inverters": (
            InverterConfig(name="south", type="plenticore", max_ac_w=10_000, timeout_s=0.2),
            InverterConfig(name="west", type="piko_iq", max_ac_w=5_000, timeout_s=0.2),
        ),
        "feed_in_limit": FeedInLimitSettings(enabled=True, limit_w=6_000),
    }
    return PlantConfig(**{**defaults, **kwargs})


class Broken:
    name = "broken"

    def decide(self, inputs: Inputs) -> Decision:
        raise RuntimeError("boom")


async def test_setpoints_reach_the_devices_and_a_broken_controller_changes_nothing():
    south, west = ScriptedInverter("south", ac_power_w=10_000), ScriptedInverter("west", ac_power_w=5_000)
    publisher = RecordingPublisher()
    runtime = PlantRuntime(
        config(),
        CounterState(),
        publisher,
        (Broken(), *CONTROLLERS),
        meter=ScriptedMeter(grid_w=-14_000),
        inverter_factory=scripted({"south": south, "west": west}),
    )
    result = await runtime.cycle(T0)
    (south_limit,) = south.written[-1]
    assert south_limit.quantity == ACTIVE_POWER_LIMIT_PCT
    assert south_limit.reason == "feed-in limit 6.00 kW"
    # One common percentage; whole-percent registers may differ by one step.
    assert abs(west.written[-1][0].value - south_limit.value) <= 1.0
    statuses = {s.name: s for s in result.state.controllers}
    assert statuses["broken"].state == "failed"
    assert statuses["broken"].error == "RuntimeError: boom"
    assert statuses["feed_in_limitation"].state == "limiting"
    assert publisher.states[-1].setpoints == result.state.setpoints
    assert result.state.flow.pv_power_w == 15_000
    assert result.state.flow.house_power_w == 1_000


async def test_a_slow_inverter_is_an_error_after_its_timeout_and_the_other_still_gets_its_limit():
    south = ScriptedInverter("south", ac_power_w=10_000)
    west = ScriptedInverter("west", ac_power_w=5_000, read_delay_s=30.0)
    runtime = PlantRuntime(
        config(),
        CounterState(),
        RecordingPublisher(),
        meter=ScriptedMeter(grid_w=-14_000),
        inverter_factory=scripted({"south": south, "west": west}),
    )
    started = time.monotonic()
    result = await runtime.cycle(T0)
    # Bounded by the slow device's own timeout (4 x 0.2 s), nowhere near its 30 s.
    assert time.monotonic() - started < 5.0
    states = {inv.name: inv for inv in result.state.inverters}
    assert not states["west"].status.online
    assert states["west"].status.error == "no answer within 0.2 s"
    assert west.written == []
    # South alone must now take the whole reduction.
    allowed_pct = (10_000 + 6_000 - 25 - 14_000) / 10_000 * 100
    assert allowed_pct - 1.0 < south.written[-1][0].value <= allowed_pct


async def test_the_snapshot_shows_the_battery_limits_and_their_reasons():
    mp = ScriptedInverter("mp", ac_power_w=0.0, battery_power_w=0.0, battery_soc_pct=100.0)
    south = ScriptedInverter("south", ac_power_w=5_000)
    runtime = PlantRuntime(
        config(
            inverters=(
                InverterConfig(name="south", type="plenticore", max_ac_w=10_000),
                InverterConfig(name="mp", type="piko_mp_plus", max_ac_w=4_600, battery=BATTERY),
            ),
            feed_in_limit=FeedInLimitSettings(enabled=False),
            battery_management=BatteryManagementSettings(enabled=True, min_soc_pct=10, max_soc_pct=100),
        ),
        CounterState(),
        RecordingPublisher(),
        meter=ScriptedMeter(grid_w=-2_000),
        inverter_factory=scripted({"south": south, "mp": mp}),
    )
    state = (await runtime.cycle(T0)).state
    assert state.battery is not None
    assert state.battery.soc_pct == 100.0
    assert state.battery.charge_limit_w == 0.0
    assert state.battery.charge_limit_reason == "battery full: 100 % reached the maximum of 100 %"
    assert state.battery.discharge_limit_w == 5_000
    (setpoint,) = mp.written[-1]
    assert (setpoint.quantity, setpoint.value, setpoint.reason) == (
        BATTERY_POWER_W,
        0.0,
        "battery full: 100 % reached the maximum of 100 %",
    )


async def test_reconfigure_rebuilds_only_the_devices_whose_settings_changed():
    devices = {"south": ScriptedInverter("south"), "west": ScriptedInverter("west")}
    runtime = PlantRuntime(
        config(), CounterState(), RecordingPublisher(), meter=ScriptedMeter(), inverter_factory=scripted(devices)
    )
    changed = config(
        inverters=(
            InverterConfig(name="south", type="plenticore", max_ac_w=10_000, timeout_s=0.2),
            InverterConfig(name="west", type="piko_iq", max_ac_w=5_500, timeout_s=0.2),
        )
    )
    runtime.reconfigure(changed)
    assert not devices["south"].closed
    assert devices["west"].closed
