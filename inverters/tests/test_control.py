"""Feed-in limitation, grid-operator limits and battery management as pure controllers:
cycle tables in the spirit of OpenEMS's ControllerTest, and properties over random plants."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from energy.config import (
    ACTIVE_POWER_LIMIT_PCT,
    BATTERY_POWER_W,
    BatteryManagementSettings,
    FeedInLimitSettings,
    GridOperatorLimits,
    HouseBatteryConfig,
    InverterConfig,
    PlantConfig,
)
from energy.control import Decision
from energy.forecast import Forecast, Slot
from energy.state import Setpoint
from energy.testing import ControllerTest, Inverter
from inverters.battery_control import BatteryManagement
from inverters.control import (
    GROWTH_FRACTION,
    FeedInLimitation,
    Share,
    common_fraction,
    margin_w,
    quantized_pcts,
)
from inverters.control import GridOperatorLimits as GridOperatorController
from plant.controllers import CONTROLLERS

SOUTH = InverterConfig(name="south", type="plenticore", max_ac_w=10_000)
WEST = InverterConfig(name="west", type="piko_epc", max_ac_w=5_000)  # SunSpec: 0.01 % steps
CI = InverterConfig(name="old roof", type="piko_ci", max_ac_w=30_000)
MP = InverterConfig(
    name="mp",
    type="piko_mp_plus",
    max_ac_w=4_600,
    battery=HouseBatteryConfig(
        type="byd_hvs", modules=4, capacity_wh=10_240, max_charge_w=5_000, max_discharge_w=5_000
    ),
)


def plant(*inverters: InverterConfig, limit_w: float | None = 6_000, position: str = "grid", **extra) -> PlantConfig:
    return PlantConfig(
        plant_id=1,
        name="test",
        time_zone="Europe/Berlin",
        installation_position=position,
        meter=None,
        inverters=inverters,
        feed_in_limit=FeedInLimitSettings(enabled=limit_w is not None, limit_w=limit_w or 0.0),
        **extra,
    )


def feed_in_test(*inverters: InverterConfig, **kwargs) -> ControllerTest:
    return ControllerTest([FeedInLimitation()], plant(*inverters, **kwargs))


def delivered_w(out, *configs: InverterConfig) -> float:
    """What the written limits let the inverters deliver together."""
    return sum(c.max_ac_w * (out.value(c.name, ACTIVE_POWER_LIMIT_PCT) or 0.0) / 100 for c in configs)


def test_the_product_runs_its_controllers_in_priority_order():
    # grid operator > fuse and unbalance (wallbox guards) > feed-in > battery > wallbox modes
    assert [c.name for c in CONTROLLERS] == [
        "grid_operator_limits",
        "wallbox_guards",
        "feed_in_limitation",
        "battery_management",
        "wallbox_modes",
    ]


def test_excess_is_cut_in_one_cycle_in_proportion_to_maximum_power():
    test = feed_in_test(SOUTH, WEST)
    # 15 kW of PV, 1 kW house: 14 kW feed-in against a 6 kW limit.
    out = test.cycle(grid_w=-14_000, inverters={"south": 10_000, "west": 5_000})
    allowed_w = 15_000 + 6_000 - margin_w(6_000) - 14_000
    south, west = out.value("south", ACTIVE_POWER_LIMIT_PCT), out.value("west", ACTIVE_POWER_LIMIT_PCT)
    # One common percentage; the PLENTICORE takes whole percent, the SunSpec inverter the rest.
    assert south == pytest.approx(allowed_w / 15_000 * 100, abs=1.0)
    assert west == pytest.approx(allowed_w / 15_000 * 100, abs=2.0)
    assert delivered_w(out, SOUTH, WEST) == pytest.approx(allowed_w, abs=1.0)
    assert out.setpoint("south", ACTIVE_POWER_LIMIT_PCT).reason == "feed-in limit 6.00 kW"
    assert out.status("feed_in_limitation").state == "limiting"


def test_a_piko_ci_is_counted_but_never_written():
    test = feed_in_test(SOUTH, CI)
    # The PIKO CI delivers 4 kW the product cannot touch; the rest must come off the PLENTICORE.
    out = test.cycle(grid_w=-12_500, inverters={"south": 9_500, "old roof": 4_000})
    assert "old roof" not in out.devices()
    allowed_w = 9_500 + 6_000 - margin_w(6_000) - 12_500
    # Whole percent, rounded down: never above the allowance, at most one step below it.
    assert allowed_w - 100 < delivered_w(out, SOUTH) <= allowed_w


def test_no_limit_while_even_full_power_would_stay_within_it():
    # 10 kW house: even 15 kW from the inverters would feed in only 5 kW.
    out = feed_in_test(SOUTH, WEST).cycle(grid_w=7_000, inverters={"south": 2_500, "west": 500})
    assert out.outcome.setpoints == ()
    assert out.status("feed_in_limitation").state == "idle"


def test_the_limit_is_in_place_before_the_sun_comes_out():
    """Low PV, high limit headroom: the cap already stops a burst of sun from overshooting."""
    test = feed_in_test(SOUTH, WEST)
    out = test.cycle(grid_w=-1_000, inverters={"south": 1_200, "west": 600})
    # 1.8 kW output, 800 W house: the inverters may deliver 6.8 kW (less the margin), not 15 kW.
    assert delivered_w(out, SOUTH, WEST) == pytest.approx(1_800 + 6_000 - margin_w(6_000) - 1_000, abs=1)


def test_a_shaded_inverter_leaves_its_share_to_the_others():
    """West is shaded (500 W of 5 kW): south may take what west cannot use."""
    test = feed_in_test(SOUTH, WEST)
    out = test.cycle(grid_w=-9_500, inverters={"south": 10_000, "west": 500})
    allowed_w = 10_500 + 6_000 - margin_w(6_000) - 9_500
    west_room_w = 500 + GROWTH_FRACTION * 5_000
    south_pct = out.setpoint("south", ACTIVE_POWER_LIMIT_PCT).value
    assert 10_000 * south_pct / 100 == pytest.approx(allowed_w - west_room_w, abs=100)
    assert south_pct > 60  # an even split would hold it at 46 %


def test_release_follows_a_ramp_and_ends_with_no_limit():
    test = feed_in_test(SOUTH, WEST)
    first = test.cycle(grid_w=-14_000, inverters={"south": 10_000, "west": 5_000})
    start_pct = first.setpoint("south", ACTIVE_POWER_LIMIT_PCT).value
    # The house now takes 10 kW: the limit is no longer reached.
    pcts = []
    for _ in range(12):
        out = test.cycle(after_s=1, grid_w=4_000, inverters={"south": 4_000, "west": 2_000})
        pcts.append(out.value("south", ACTIVE_POWER_LIMIT_PCT))
    rising = [p for p in pcts if p is not None]
    assert rising == sorted(rising)
    assert rising[0] == pytest.approx(start_pct + 10.0, abs=0.01)  # 10 %/s
    assert "releasing" in out.status("feed_in_limitation").reason or pcts[-1] is None
    assert pcts[-1] is None  # fully released: nothing written, the drivers go back to 100 %


def test_an_offline_inverter_gets_nothing_and_the_others_take_its_share():
    test = feed_in_test(SOUTH, WEST)
    out = test.cycle(grid_w=-10_000, inverters={"south": 10_000, "west": None})
    assert "west" not in out.devices()
    allowed_w = 10_000 + 6_000 - margin_w(6_000) - 10_000
    assert allowed_w - 100 < delivered_w(out, SOUTH) <= allowed_w


def test_without_a_measurement_the_last_limit_is_held():
    test = feed_in_test(SOUTH)
    limited = test.cycle(grid_w=-9_000, inverters={"south": 10_000}).value("south", ACTIVE_POWER_LIMIT_PCT)
    out = test.cycle(after_s=1, grid_w=None, inverters={"south": 6_000})
    assert out.value("south", ACTIVE_POWER_LIMIT_PCT) == limited
    assert "no measurement" in out.status("feed_in_limitation").reason


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        pytest.param(plant(SOUTH, limit_w=None), "switched off", id="switched off"),
        pytest.param(plant(SOUTH, position="home"), "needs the meter at the grid connection point", id="home"),
    ],
)
def test_feed_in_limitation_off(config, reason):
    out = ControllerTest([FeedInLimitation()], config).cycle(grid_w=-9_000, inverters={"south": 10_000})
    assert out.outcome.setpoints == ()
    assert out.status("feed_in_limitation").state == "off"
    assert out.status("feed_in_limitation").reason == reason


def test_battery_charge_headroom_is_used_before_curtailing():
    config = plant(MP, SOUTH, battery_management=BatteryManagementSettings(enabled=True))
    test = ControllerTest(CONTROLLERS, config)
    # Battery charges 1 kW of its 5 kW; 9 kW feed-in against 6 kW: the battery takes the 3 kW.
    out = test.cycle(
        grid_w=-9_000,
        inverters={"south": 10_000, "mp": Inverter(ac_power_w=0.0, battery_power_w=1_000, battery_soc_pct=50)},
    )
    assert out.value("south", ACTIVE_POWER_LIMIT_PCT) is None
    assert out.value("mp", BATTERY_POWER_W) == pytest.approx(5_000)  # clamped to its maximum
    assert out.setpoint("mp", BATTERY_POWER_W).reason == "battery power: charge up to 5.00 kW, discharge up to 5.00 kW"


def test_lpp_outranks_a_looser_feed_in_limit():
    config = plant(SOUTH, WEST, limit_w=10_000, grid_limits=GridOperatorLimits(lpp_w=3_000))
    out = ControllerTest(CONTROLLERS, config).cycle(grid_w=-12_000, inverters={"south": 9_000, "west": 4_000})
    setpoint = out.setpoint("south", ACTIVE_POWER_LIMIT_PCT)
    assert setpoint.reason == "grid operator's feed-in limit (LPP) 3.00 kW"
    assert setpoint.source == "grid_operator_limits"
    assert delivered_w(out, SOUTH, WEST) == pytest.approx(13_000 + 3_000 - margin_w(3_000) - 12_000, abs=1)


def test_lpc_caps_battery_charging_from_the_grid():
    config = plant(MP, limit_w=None, grid_limits=GridOperatorLimits(lpc_w=1_000))

    class ChargeFromGrid:
        name = "charge_from_grid"

        def decide(self, inputs):
            return Decision(requests=(Setpoint(device="mp", quantity=BATTERY_POWER_W, value=3_000.0, reason="cheap"),))

    out = ControllerTest([GridOperatorController(), ChargeFromGrid()], config).cycle(
        grid_w=2_500, inverters={"mp": Inverter(ac_power_w=0.0, battery_power_w=2_000, battery_soc_pct=40)}
    )
    # Purchase 2.5 kW of which 2 kW charge the battery: it may charge only 500 W to stay at 1 kW.
    assert out.value("mp", BATTERY_POWER_W) == pytest.approx(500.0)
    assert out.setpoint("mp", BATTERY_POWER_W).reason == "grid operator's purchase limit (LPC) 1.00 kW"


@pytest.mark.parametrize(
    ("grid_w", "battery_w", "soc", "expected_w", "reason"),
    [
        pytest.param(-1_500, 0, 50, 1_500, "feeding in 1.50 kW: charging with up to 1.50 kW", id="surplus is charged"),
        pytest.param(800, 0, 50, -800, "buying 800 W: discharging with up to 800 W", id="consumption is covered"),
        pytest.param(
            300, -1_000, 50, -1_300, "buying 300 W: discharging with up to 1.30 kW", id="tracks from where it is"
        ),
        pytest.param(
            -8_000,
            0,
            50,
            5_000,
            "battery power: charge up to 5.00 kW, discharge up to 5.00 kW",
            id="charge power limited",
        ),
        pytest.param(-1_500, 0, 100, 0, "battery full: 100 % reached the maximum of 100 %", id="full"),
        pytest.param(800, 0, 5, 0, "battery empty: 5 % reached the minimum of 5 %", id="empty"),
    ],
)
def test_battery_management_aims_at_zero_exchange(grid_w, battery_w, soc, expected_w, reason):
    config = plant(MP, limit_w=None, battery_management=BatteryManagementSettings(enabled=True))
    out = ControllerTest([BatteryManagement()], config).cycle(
        grid_w=grid_w, inverters={"mp": Inverter(ac_power_w=0.0, battery_power_w=battery_w, battery_soc_pct=soc)}
    )
    assert out.value("mp", BATTERY_POWER_W) == pytest.approx(expected_w)
    assert out.setpoint("mp", BATTERY_POWER_W).reason == reason


# --- properties --------------------------------------------------------------------------------
inverter_sizes = st.lists(st.sampled_from([3_000.0, 4_200.0, 5_500.0, 8_500.0, 10_000.0]), min_size=1, max_size=4)


@given(
    sizes=inverter_sizes,
    output_fraction=st.floats(0.0, 1.0),
    ci_w=st.floats(0, 20_000),
    house_w=st.floats(0, 15_000),
    limit_w=st.floats(0, 30_000),
)
def test_feed_in_properties(sizes, output_fraction, ci_w, house_w, limit_w):
    configs = [InverterConfig(name=f"inv{i}", type="plenticore", max_ac_w=size) for i, size in enumerate(sizes)]
    configs.append(InverterConfig(name="ci", type="piko_ci", max_ac_w=30_000))
    outputs = {c.name: c.max_ac_w * output_fraction for c in configs[:-1]}
    outputs["ci"] = ci_w
    grid_w = house_w - sum(outputs.values())
    out = ControllerTest([FeedInLimitation()], plant(*configs, limit_w=limit_w)).cycle(grid_w=grid_w, inverters=outputs)
    pcts = {s.device: s.value for s in out.outcome.setpoints}
    assert "ci" not in pcts
    assert all(0.0 <= pct <= 100.0 for pct in pcts.values())
    excess_w = -grid_w - (limit_w - margin_w(limit_w))
    if excess_w <= 0:
        # No excess: no inverter is held below what it delivers now.
        assert all(sizes[int(name[3:])] * pct / 100 >= outputs[name] - 1.0 for name, pct in pcts.items())
    if excess_w > 0 and output_fraction == 1.0:
        # Every inverter at full power: the reductions add up to exactly the excess (or all of it).
        reduction_w = sum(sizes[int(name[3:])] * (100 - pct) / 100 for name, pct in pcts.items())
        assert reduction_w == pytest.approx(min(excess_w, sum(sizes)), abs=0.01 * sum(sizes) + 1)


@given(
    maxes=st.lists(st.floats(1_000, 20_000), min_size=1, max_size=5),
    capabilities=st.lists(st.one_of(st.none(), st.floats(0, 20_000)), min_size=5, max_size=5),
    allowed_w=st.floats(0, 100_000),
)
def test_common_fraction_delivers_exactly_what_is_allowed(maxes, capabilities, allowed_w):
    shares = [Share(f"i{n}", m, c) for n, (m, c) in enumerate(zip(maxes, capabilities, strict=False))]
    p = common_fraction(allowed_w, shares)
    assert 0.0 <= p <= 1.0
    delivered = sum(min(s.max_ac_w * p, s.capability_w if s.capability_w is not None else s.max_ac_w) for s in shares)
    possible = sum(min(s.max_ac_w, s.capability_w if s.capability_w is not None else s.max_ac_w) for s in shares)
    assume(allowed_w > 0)
    assert delivered == pytest.approx(min(allowed_w, possible), rel=1e-6, abs=1e-3) or p == 1.0


@given(
    kinds=st.lists(st.sampled_from(["plenticore", "piko_iq", "piko_epc", "piko_mp_plus"]), min_size=1, max_size=5),
    sizes=st.lists(st.sampled_from([3_000.0, 4_200.0, 5_500.0, 10_000.0]), min_size=5, max_size=5),
    fraction=st.floats(0.0, 1.0),
)
def test_quantized_limits_never_exceed_the_allowance_and_waste_at_most_one_step_each(kinds, sizes, fraction):
    inverters = [
        ControllerTest([], plant(InverterConfig(name=f"i{n}", type=kind, max_ac_w=size)))
        .cycle(grid_w=0, inverters={f"i{n}": 0.0})
        .state.inverters[0]
        for n, (kind, size) in enumerate(zip(kinds, sizes, strict=False))
    ]
    pcts = quantized_pcts(inverters, fraction)
    assert all(0.0 <= pct <= 100.0 for pct in pcts.values())
    total_w = sum(inv.max_ac_w * pcts[inv.name] / 100 for inv in inverters)
    target_w = sum(inv.max_ac_w for inv in inverters) * fraction
    assert total_w <= target_w + 1e-6
    coarse_only = all(kind in ("plenticore", "piko_iq") for kind in kinds)
    fine_w = sum(inv.max_ac_w for inv in inverters if inv.type not in ("plenticore", "piko_iq"))
    largest_step_w = max(inv.max_ac_w for inv in inverters) / 100 if coarse_only else fine_w / 10_000 + 0.01
    assert total_w >= target_w - largest_step_w - 1e-6 or any(p == 100.0 for p in pcts.values())


# --- grid-optimised charging (issue 19) -----------------------------------------------------------
def sunny_forecast(start: dt.datetime, peak_w: float = 10_000.0) -> Forecast:
    """A clear day in UTC slots from 00:00: PV a triangle 04:00-20:00 peaking at noon, 400 W load."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = tuple(
        Slot(day + dt.timedelta(minutes=15 * n), max(0.0, 1 - abs(n / 4 - 12.0) / 8.0) * peak_w, 400.0)
        for n in range(96)
    )
    return Forecast(computed_at=day, slots=slots, pv_source="clear-sky", load_source="base load")


@pytest.mark.parametrize(
    ("grid_optimised", "grid_w", "expected_w", "reason"),
    [
        # A sunny morning, 3 kW surplus under the 6 kW limit: the plan holds the battery back.
        (True, -3_000.0, 0.0, "keeping"),
        # 8 kW surplus: what lies above the limit (less the 60 W margin) goes into the battery.
        (True, -8_000.0, 2_060.0, "keeping"),
        # Off: today's zero exchange, charging from all surplus.
        (False, -3_000.0, 3_000.0, "charging with up to 3.00 kW"),
    ],
)
def test_grid_optimised_charging_keeps_room_in_the_morning(grid_optimised, grid_w, expected_w, reason):
    start = dt.datetime(2026, 6, 21, 6, 0, tzinfo=dt.UTC)  # 08:00 in Berlin
    settings = BatteryManagementSettings(enabled=True, grid_optimised=grid_optimised)
    config = plant(SOUTH, MP, battery_management=settings, forecast=sunny_forecast(start))
    out = ControllerTest([BatteryManagement()], config, start=start).cycle(
        grid_w=grid_w,
        inverters={"south": 6_000.0, "mp": Inverter(ac_power_w=0.0, battery_power_w=0.0, battery_soc_pct=12.0)},
    )
    assert out.value("mp", BATTERY_POWER_W) == pytest.approx(expected_w, abs=1.0)
    assert reason in out.setpoint("mp", BATTERY_POWER_W).reason


def test_without_a_forecast_grid_optimised_charging_is_todays_strategy():
    start = dt.datetime(2026, 6, 21, 6, 0, tzinfo=dt.UTC)
    config = plant(MP, battery_management=BatteryManagementSettings(enabled=True, grid_optimised=True))
    out = ControllerTest([BatteryManagement()], config, start=start).cycle(
        grid_w=-3_000.0, inverters={"mp": Inverter(ac_power_w=0.0, battery_power_w=0.0, battery_soc_pct=12.0)}
    )
    assert out.value("mp", BATTERY_POWER_W) == pytest.approx(3_000.0)
