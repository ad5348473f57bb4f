"""Issue 19 part 4: the cloud's recent rhythm. The pure rules (wallbox.clouds) in tables and
properties, then the wallbox modes on a hand-made plant. The manual's timers are the outer
bound: a pause never later than 5 minutes; sooner in a deep cloud that outlasts every recent one
(a cloud bank), after 3 minutes where the grid pays 400 W or more of the minimum; a shallow dip
or one bridged by the house battery rides the 5 minutes; the sun back for a minute restarts at
once (no 8-minute wait); without the look-ahead the manual's 5 and 8 minutes hold."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import SOLAR_PURE, BatteryManagementSettings
from energy.state import BatteryState, DeviceStatus
from wallbox import clouds
from wallbox.clouds import Spell, bank_after_s, grid_pays_w, pause_early, pause_now, recent, remember, resume_wait_s
from wallbox.common import HYSTERESIS_S, RESUME_S, V
from wallbox.modes import WallboxModes
from wallbox.tests.test_control import box, plant

T0 = dt.datetime(2025, 6, 21, 8, 0, tzinfo=dt.UTC)
MIN_W = 6 * 3 * V  # 4140 W: 6 A on three phases


def test_the_rule_keeps_the_manuals_outer_bound():
    assert clouds.HYSTERESIS_S == HYSTERESIS_S
    assert clouds.RESUME_S == RESUME_S
    assert resume_wait_s(look_ahead=False) == RESUME_S
    assert resume_wait_s(look_ahead=True) == 0.0


@pytest.mark.parametrize(
    ("age_s", "sun_w", "bridge_w", "durations", "pause"),
    [
        (300, 4_100, 5_000, [], True),  # the manual's 5 minutes: always, whatever else
        (299, 4_100, 0, [], False),  # the grid pays 40 W: a shallow dip rides the 5 minutes
        (180, 3_740, 0, [], True),  # the grid pays 400 W after 3 minutes: pause
        (180, 3_741, 0, [], False),  # 399 W: ride on
        (179, 0, 0, [], False),  # no rhythm: never before 3 minutes
        (180, 0, 3_740, [], True),  # a battery that bridges only part of it
        (180, 0, 3_741, [], False),  # one that bridges all but 399 W
        (110, 300, 0, [40, 80, 60], True),  # a cloud bank: sooner
        (110, 1_700, 0, [40, 80, 60], False),  # not deep: no bank, and not 3 minutes yet
    ],
)
def test_pause_now_within_the_manuals_5_minutes(age_s, sun_w, bridge_w, durations, pause):
    assert pause_now(age_s, sun_w, MIN_W, bridge_w, durations) is pause


@given(
    age=st.floats(0, 400),
    sun=st.floats(-2_000, 12_000),
    minimum=st.floats(1_000, 12_000),
    bridge=st.floats(0, 12_000),
    durations=st.lists(st.floats(1, 3_600), max_size=30),
)
def test_pause_now_is_never_later_than_the_manual_and_sooner_only_for_a_reason(age, sun, minimum, bridge, durations):
    paused = pause_now(age, sun, minimum, bridge, durations)
    if age >= HYSTERESIS_S:
        assert paused
    elif paused and not pause_early(age, sun, minimum, bridge, durations):
        assert age >= clouds.PAUSE_AFTER_S
        assert grid_pays_w(sun, minimum, bridge) >= clouds.GRID_PAYS_W
    assert 0.0 <= grid_pays_w(sun, minimum, bridge) <= minimum


@pytest.mark.parametrize(
    ("age_s", "sun_w", "bridge_w", "durations", "pause"),
    [
        # A deep cloud longer than every one of the last hour (+30 s): a cloud bank.
        (110, 300, 0, [40, 80, 60], True),
        (109, 300, 0, [40, 80, 60], False),  # not yet 30 s longer than the longest
        (60, 0, 0, [10, 20, 15], True),  # at least a minute, however short the others were
        (59, 0, 0, [10, 20, 15], False),
        (200, 300, 0, [40, 80], False),  # two clouds are no rhythm: no bank
        (200, 420, 0, [40, 80, 60], False),  # not deep enough (sun pays 10.1 %): its sun would be lost
        (200, 410, 0, [40, 80, 60], True),  # deep (sun pays 9.9 %)
        (200, 300, 3_840, [40, 80, 60], False),  # a battery bridges the 3.84 kW deficit
        (200, 300, 3_000, [40, 80, 60], True),  # one that cannot
        (280, 300, 0, [40, 80, 280], False),  # the longest + 30 s is past the 5 minutes
        (300, 300, 0, [40, 80, 60], False),  # the hysteresis pauses by itself
    ],
)
def test_pause_early_in_a_cloud_bank(age_s, sun_w, bridge_w, durations, pause):
    assert pause_early(age_s, sun_w, MIN_W, bridge_w, durations) is pause


@given(
    age=st.floats(0, 400),
    sun=st.floats(-2_000, 12_000),
    minimum=st.floats(1_000, 12_000),
    bridge=st.floats(0, 12_000),
    durations=st.lists(st.floats(1, 3_600), max_size=30),
)
def test_an_early_pause_only_ever_comes_in_a_deep_unbridged_cloud_longer_than_all_recent_ones(
    age, sun, minimum, bridge, durations
):
    if not pause_early(age, sun, minimum, bridge, durations):
        return
    assert len(durations) >= clouds.MIN_SPELLS
    assert clouds.MIN_AGE_S <= age < HYSTERESIS_S
    assert age >= max(durations) + clouds.MARGIN_S
    assert sun < clouds.DEEP_SHARE * minimum
    assert bridge < minimum - max(sun, 0.0)


@given(
    age=st.floats(0, 300),
    later=st.floats(0, 300),
    sun=st.floats(0, 5_000),
    durations=st.lists(st.floats(1, 400), max_size=10),
)
def test_once_a_cloud_counts_as_a_bank_it_stays_one_until_the_hysteresis_ends(age, later, sun, durations):
    if pause_early(age, sun, MIN_W, 0.0, durations) and age + later < HYSTERESIS_S:
        assert pause_early(age + later, sun, MIN_W, 0.0, durations)


@given(st.lists(st.tuples(st.integers(0, 20_000), st.floats(0, 1_000)), max_size=80))
def test_the_rhythm_remembers_the_last_hour_at_most(records):
    spells: tuple[Spell, ...] = ()
    for offset, duration in sorted(records):
        ended = Spell(T0 + dt.timedelta(seconds=offset), duration)
        spells = remember(spells, ended)
        newest = ended.ended_at
        assert len(spells) <= clouds.MAX_SPELLS
        assert all(0 <= (newest - s.ended_at).total_seconds() <= clouds.RHYTHM_S for s in spells)
        assert [s.ended_at for s in spells] == sorted(s.ended_at for s in spells)
        if duration > 0:
            assert spells[-1] == ended
    later = T0 + dt.timedelta(seconds=30_000)
    assert recent(spells, later) == [s.duration_s for s in spells if (later - s.ended_at).total_seconds() <= 3_600]


@pytest.mark.parametrize(
    ("durations", "after"),
    [([], None), ([50, 60], None), ([50, 60, 70], 100.0), ([5, 5, 5], 60.0), ([50, 270, 60], None)],
)
def test_how_long_a_cloud_bank_lasts(durations, after):
    assert bank_after_s(durations) == after


# --- the wallbox modes on a hand-made plant ----------------------------------------------------
SUN_W = 6_000 + 6 * V  # 6 kW for the car beyond a house of 6 A
DEEP_W = 300 + 6 * V  # 0.3 kW for the car: a deep cloud (7 % of the minimum power)
SHALLOW_W = 2_500 + 6 * V  # 2.5 kW: the sun still pays 60 %


def clouds_then(p, cloud_w: float, passing: int = 3, passing_s: float = 60, **kwargs):
    """Sun, then ``passing`` clouds of ``passing_s`` (the recent rhythm), then a long cloud
    giving ``cloud_w``; returns the seconds from the first cycle that saw it (the hysteresis's
    first cycle) to the one that paused (None: no pause in 6 minutes)."""
    p.pv_w = SUN_W
    p.run(120)
    for _ in range(passing):
        p.pv_w = DEEP_W
        p.run(passing_s)
        p.pv_w = SUN_W
        p.run(120)
    assert p.setpoint("carport").value > 6
    p.pv_w = cloud_w
    for k in range(1, 37):
        p.cycle(10)
        if p.setpoint("carport").value == 0:
            return 10 * (k - 1)
    return None


def test_a_deep_cloud_longer_than_the_recent_ones_pauses_early_and_a_minute_of_sun_restarts():
    p = plant(box(mode=SOLAR_PURE))
    paused = clouds_then(p, DEEP_W)
    # The three clouds lasted about a minute (each seen a cycle late): a bank after 1:30 or so.
    assert paused is not None and 60 <= paused <= 120, paused
    reason = p.setpoint("carport").reason
    assert reason.startswith("cloud hysteresis: paused after") and "a cloud bank (the 3 clouds" in reason
    p.pv_w = SUN_W  # the sun is back: a minute of it restarts the car, no 8-minute wait
    p.run(50)
    assert p.setpoint("carport").value == 0
    p.run(20)
    assert p.setpoint("carport").value >= 6.0


def test_without_the_look_ahead_the_manuals_8_minutes_hold():
    p = plant(box(mode=SOLAR_PURE), controllers=(WallboxModes(look_ahead=False),))
    assert clouds_then(p, DEEP_W) == HYSTERESIS_S
    p.pv_w = SUN_W
    p.run(RESUME_S - 10)
    assert p.setpoint("carport").value == 0
    assert "cloud hysteresis: paused, resume possible in 0:10" in p.setpoint("carport").reason
    p.cycle(10)
    assert p.setpoint("carport").value >= 6.0


NEARLY_W = 3_900 + 6 * V  # 3.9 kW: the grid pays 240 W of the minimum


@pytest.mark.parametrize(
    ("case", "cloud_w", "passing", "after_s", "why"),
    [
        ("a shallow dip rides the manual's 5 minutes", NEARLY_W, 3, HYSTERESIS_S, "paused for lack of surplus"),
        ("the grid pays 1.6 kW: 3 minutes", SHALLOW_W, 3, 180, "the grid paid 1.6 kW"),
        ("too few clouds to judge a bank: 3 minutes", DEEP_W, 2, 180, "the grid paid 3.8 kW"),
    ],
)
def test_without_a_bank_a_cloud_pauses_after_3_minutes_where_the_grid_pays_else_after_5(
    case, cloud_w, passing, after_s, why
):
    p = plant(box(mode=SOLAR_PURE))
    assert clouds_then(p, cloud_w, passing=passing) == after_s, case
    assert why in p.setpoint("carport").reason


def test_a_house_battery_that_can_bridge_the_cloud_rides_it_out():
    battery = BatteryState(
        name="bat",
        status=DeviceStatus(name="bat", online=True),
        inverter="storage",
        capacity_wh=10_000,
        max_charge_w=5_000,
        max_discharge_w=5_000,
        min_soc_pct=10,
        max_soc_pct=100,
        power_w=0.0,
        soc_pct=60,
    )
    p = plant(box(mode=SOLAR_PURE), battery=battery)
    p.config = dataclasses.replace(p.config, battery_management=BatteryManagementSettings(enabled=True))
    assert clouds_then(p, DEEP_W) == HYSTERESIS_S
    # At its minimum SoC it bridges nothing: the cloud bank pauses early again.
    p = plant(box(mode=SOLAR_PURE), battery=dataclasses.replace(battery, soc_pct=10))
    p.config = dataclasses.replace(p.config, battery_management=BatteryManagementSettings(enabled=True))
    paused = clouds_then(p, DEEP_W)
    assert paused is not None and paused < HYSTERESIS_S
