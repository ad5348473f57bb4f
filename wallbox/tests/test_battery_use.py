"""WB-7 house battery use per charging mode: which setting applies in which mode and hour, and
what the managed battery does for a car with the setting on and off (one cycle of battery
management and the wallbox modes on a hand-made plant state)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import (
    BATTERY_POWER_W,
    BATTERY_USE_MODES,
    CHARGING_CURRENT_A,
    HOURLY_MODES,
    LOCK,
    PIKO_MP_PLUS,
    POWER,
    SOLAR_PLUS,
    SOLAR_PURE,
    TIME_MODE,
    WALLBOX_COMMAND_TIMEOUT_S,
    BatteryManagementSettings,
    BatteryUse,
    HouseBatteryConfig,
    InverterConfig,
    PlantConfig,
    SolarPlusSettings,
    WallboxConfig,
)
from energy.control import ControlLoop
from energy.state import (
    WALLBOX_CHARGING,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    InverterState,
    MeterReading,
    PhaseReading,
    PlantState,
    WallboxCommand,
    WallboxState,
)
from inverters.battery_control import BatteryManagement
from wallbox.battery import KeptOut, discharge_bound, uses_battery
from wallbox.common import mode_in_force
from wallbox.memory import BoxMemory, ModesMemory
from wallbox.modes import WallboxModes

V = 230.0
# Friday 20 June 2025, 22:30 in Berlin (CEST).
NOW = dt.datetime(2025, 6, 20, 20, 30, tzinfo=dt.UTC)
BERLIN = "Europe/Berlin"


# --- which setting applies ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("use", "mode", "expected"),
    [
        (BatteryUse(power=True), POWER, True),
        (BatteryUse(power=True), SOLAR_PURE, False),
        (BatteryUse(power=True), SOLAR_PLUS, False),
        (BatteryUse(solar_pure=True), SOLAR_PURE, True),
        (BatteryUse(solar_pure=True), POWER, False),
        (BatteryUse(solar_plus=True), SOLAR_PLUS, True),
        (BatteryUse(solar_plus=True), SOLAR_PURE, False),
        (BatteryUse.every_mode(True), LOCK, False),  # Lock charges nothing
        (BatteryUse.every_mode(True), TIME_MODE, False),  # never in force itself: resolved first
        (BatteryUse.every_mode(True), POWER, True),
        (BatteryUse.every_mode(False), SOLAR_PURE, False),
    ],
)
def test_the_setting_of_the_mode_in_force_applies(use: BatteryUse, mode: str, expected: bool):
    assert uses_battery(WallboxConfig(name="carport", battery_use=use), mode) is expected


def week(hour_22: str, hour_23: str) -> tuple[tuple[str, ...], ...]:
    day = (POWER,) * 22 + (hour_22, hour_23)
    return (day,) * 7


@pytest.mark.parametrize(
    ("local_time", "expected_mode", "expected"),
    [
        ("21:59", POWER, True),  # Power all day before 22: Power's setting (on)
        ("22:00", SOLAR_PURE, False),
        ("22:59", SOLAR_PURE, False),
        ("23:00", SOLAR_PLUS, True),
    ],
)
def test_time_mode_uses_the_setting_of_each_hours_mode(local_time: str, expected_mode: str, expected: bool):
    box = WallboxConfig(
        name="carport",
        mode=TIME_MODE,
        time_mode=week(SOLAR_PURE, SOLAR_PLUS),
        battery_use=BatteryUse(power=True, solar_pure=False, solar_plus=True),
    )
    hour, minute = map(int, local_time.split(":"))
    now = dt.datetime(2025, 6, 20, hour - 2, minute, tzinfo=dt.UTC)  # CEST is UTC+2
    mode, scheduled = mode_in_force(box, BERLIN, now)
    assert (mode, scheduled) == (expected_mode, True)
    assert uses_battery(box, mode) is expected


def test_a_modbus_clients_mode_brings_that_modes_setting():
    box = WallboxConfig(name="carport", mode=POWER, battery_use=BatteryUse(power=False, solar_plus=True))
    command = WallboxCommand(
        mode=SOLAR_PLUS,
        current_limit_a=None,
        at=NOW,
        expires_at=NOW + dt.timedelta(seconds=WALLBOX_COMMAND_TIMEOUT_S),
        source="modbus-tcp",
    )
    assert uses_battery(box, mode_in_force(box, BERLIN, NOW)[0]) is False
    assert uses_battery(box, mode_in_force(box, BERLIN, NOW, command)[0]) is True


@given(
    days=st.lists(st.lists(st.sampled_from(HOURLY_MODES), min_size=24, max_size=24), min_size=7, max_size=7),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    minutes=st.integers(min_value=0, max_value=14 * 24 * 60),
)
def test_in_every_hour_the_setting_is_that_of_the_hours_mode(days: list[list[str]], flags, minutes: int):
    use = BatteryUse(power=flags[0], solar_pure=flags[1], solar_plus=flags[2])
    box = WallboxConfig(name="carport", mode=TIME_MODE, time_mode=tuple(map(tuple, days)), battery_use=use)
    now = dt.datetime(2025, 3, 24, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)  # across a DST change
    local = now.astimezone(ZoneInfo(BERLIN))
    hours_mode = days[local.weekday()][local.hour]
    mode, _ = mode_in_force(box, BERLIN, now)
    assert mode == hours_mode
    expected = dict(zip(BATTERY_USE_MODES, flags, strict=True)).get(hours_mode, False)
    assert uses_battery(box, mode) is expected


# --- the discharge bound -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("grid_w", "battery_w", "kept_w", "allowed_w"),
    [
        (11_540.0, 0.0, 11_040.0, 500.0),  # night, Power at 16 A: the battery covers the house only
        (5_540.0, -6_000.0, 11_040.0, 500.0),  # the same while the battery still discharges 6 kW
        (-1_000.0, 1_000.0, 4_140.0, 0.0),  # PV covers house and car: nothing to discharge
        (2_140.0, 0.0, 4_140.0, 0.0),  # Solar Plus: what PV lacks for the car comes from the grid
        (3_000.0, -500.0, 1_000.0, 2_500.0),  # the house (and other boxes) keep the battery
    ],
)
def test_the_battery_may_discharge_what_the_house_lacks_not_what_the_kept_out_cars_draw(
    grid_w: float, battery_w: float, kept_w: float, allowed_w: float
):
    limit = discharge_bound("storage", grid_w, battery_w, [KeptOut("carport", POWER, kept_w)])
    assert limit is not None
    assert (limit.device, limit.quantity, limit.max_value) == ("storage", BATTERY_POWER_W, None)
    assert limit.min_value == pytest.approx(-allowed_w)
    assert "carport (Power)" in limit.reason


def test_no_bound_without_a_kept_out_car_drawing():
    assert discharge_bound("storage", 5_000.0, -1_000.0, []) is None
    assert discharge_bound("storage", 5_000.0, -1_000.0, [KeptOut("carport", POWER, 0.0)]) is None


@given(
    grid_w=st.floats(-30_000, 30_000),
    battery_w=st.floats(-10_000, 10_000),
    kept_w=st.floats(1, 22_000),
)
def test_the_bound_never_depends_on_the_battery_only_on_what_the_rest_lacks(grid_w, battery_w, kept_w):
    limit = discharge_bound("storage", grid_w, battery_w, [KeptOut("carport", POWER, kept_w)])
    assert limit is not None and limit.min_value is not None
    rest_w = grid_w - battery_w - kept_w  # house + other cars - PV, whatever the battery does
    assert -limit.min_value == pytest.approx(max(rest_w, 0.0), abs=0.06)
    assert limit.min_value <= 0.0


# --- one cycle: battery management and the wallbox modes ---------------------------------------
def meter(grid_w: float) -> MeterReading:
    phase = PhaseReading(V, abs(grid_w) / 3 / V, grid_w / 3, 0.0, abs(grid_w) / 3, 1.0)
    return MeterReading(grid_w, 0.0, abs(grid_w), 1.0, 50.0, (phase,) * 3, EnergyCounters(), (EnergyCounters(),) * 3)


def cycle(
    box: WallboxConfig,
    *,
    house_w: float,
    pv_w: float,
    car_a: float,
    battery_w: float = 0.0,
    memory: BoxMemory | None = None,
) -> tuple[float, float]:
    """(battery setpoint, box current) after one cycle; the car draws ``car_a`` on 3 phases."""
    car_w = car_a * 3 * V
    grid_w = house_w + car_w + battery_w - pv_w
    config = PlantConfig(
        plant_id=1,
        name="test",
        time_zone=BERLIN,
        installation_position="grid",
        meter=None,
        inverters=(
            InverterConfig(
                name="storage",
                type=PIKO_MP_PLUS,
                max_ac_w=6_000,
                battery=HouseBatteryConfig(
                    type="byd_hvs", modules=3, capacity_wh=7_680, max_charge_w=6_000, max_discharge_w=6_000
                ),
            ),
        ),
        battery_management=BatteryManagementSettings(enabled=True, min_soc_pct=10),
        wallboxes=(box,),
    )
    state = PlantState(
        plant_id=1,
        timestamp=NOW,
        sequence=1,
        meter=meter(grid_w),
        meter_status=DeviceStatus(name="meter", online=True),
        flow=EnergyFlow(
            grid_power_w=grid_w,
            pv_power_w=pv_w,
            battery_power_w=battery_w,
            battery_soc_pct=60,
            house_power_w=house_w,
            wallbox_power_w=car_w,
        ),
        totals=EnergyCounters(),
        inverters=(
            InverterState(
                name="storage",
                type=PIKO_MP_PLUS,
                status=DeviceStatus(name="storage", online=True),
                controllable=True,
                max_ac_w=6_000,
                battery_power_w=battery_w,
                battery_soc_pct=60,
            ),
        ),
        wallboxes=(
            WallboxState(
                name=box.name,
                type=box.type,
                status=DeviceStatus(name=box.name, online=True),
                state=WALLBOX_CHARGING,
                mode=box.mode,
                configured_mode=box.mode,
                phases=3,
                current_a=car_a,
                phase_currents_a=(car_a, car_a, car_a),
                power_w=car_w,
                vehicle_connected=True,
                vehicle_phases=3,
            ),
        ),
    )
    loop = ControlLoop((BatteryManagement(), WallboxModes()))
    if memory is not None:
        loop.memory["wallbox_modes"] = ModesMemory({box.name: memory})
    out = loop.run(state, config, NOW)
    values = {(s.device, s.quantity): s.value for s in out.setpoints}
    return values[("storage", BATTERY_POWER_W)], values[(box.name, CHARGING_CURRENT_A)]


@pytest.mark.parametrize(
    ("use", "battery_setpoint_w"),
    [
        pytest.param(BatteryUse(power=False, solar_pure=True, solar_plus=True), -500.0, id="off: the house only"),
        pytest.param(BatteryUse(power=True), -6_000.0, id="on: the car too, up to the battery's maximum"),
    ],
)
def test_power_mode_at_night_drains_the_battery_only_with_its_setting_on(use: BatteryUse, battery_setpoint_w):
    box = WallboxConfig(name="carport", mode=POWER, battery_use=use)
    battery, current = cycle(box, house_w=500, pv_w=0, car_a=16)
    assert current == 16.0
    assert battery == pytest.approx(battery_setpoint_w)


def test_solar_plus_off_leaves_what_pv_lacks_for_the_start_power_to_the_grid():
    box = WallboxConfig(
        name="carport",
        mode=SOLAR_PLUS,
        solar_plus=SolarPlusSettings(start_power="min", min_solar_share_pct=0),
        battery_use=BatteryUse(power=True, solar_pure=True, solar_plus=False),
    )
    running = BoxMemory(on=True, since=NOW - dt.timedelta(minutes=10), phases=3)
    battery, current = cycle(box, house_w=500, pv_w=2_500, car_a=6, memory=running)
    assert current == 6.0 and battery == 0.0
    on = WallboxConfig(
        name="carport", mode=SOLAR_PLUS, solar_plus=box.solar_plus, battery_use=BatteryUse.every_mode(True)
    )
    battery, _ = cycle(on, house_w=500, pv_w=2_500, car_a=6, memory=running)
    assert battery == pytest.approx(-(500 + 6 * 3 * V - 2_500))


def test_solar_pure_off_lets_the_battery_bridge_the_cloud_hysteresis():
    box = WallboxConfig(name="carport", mode=SOLAR_PURE, battery_use=BatteryUse(power=True, solar_plus=True))
    running = BoxMemory(on=True, since=NOW - dt.timedelta(minutes=10), phases=3)
    # A cloud: PV 1 kW for house 500 W and the car at 6 A; the hysteresis holds the minimum current.
    battery, current = cycle(box, house_w=500, pv_w=1_000, car_a=6, memory=running)
    assert current == 6.0
    assert battery == pytest.approx(-(500 + 6 * 3 * V - 1_000)), "the battery bridges the hysteresis"
    # After it (paused), the car draws nothing and the battery covers the house only.
    paused = BoxMemory(paused_at=NOW - dt.timedelta(seconds=10), phases=3)
    battery, current = cycle(box, house_w=500, pv_w=0, car_a=0, memory=paused)
    assert current == 0.0 and battery == pytest.approx(-500.0)
