"""Issue 19 part 4: the cloud's recent rhythm. The pure rule (wallbox.clouds) in tables and
properties, then the wallbox modes on a hand-made plant: a deep cloud that outlasts every recent
one pauses before the 5 minutes are up; a shallow one, one bridged by the house battery, or one
with too little rhythm to judge rides the manual's 5 minutes; the 8-minute wait holds either way."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import SOLAR_PURE, BatteryManagementSettings
from energy.state import BatteryState, DeviceStatus
from wallbox import clouds
from wallbox.clouds import Spell, bank_after_s, pause_early, recent, remember
from wallbox.common import HYSTERESIS_S, RESUME_S, V
from wallbox.modes import WallboxModes
from wallbox.tests.test_control import box, plant

T0 = dt.datetime(2025, 6, 21, 8, 0, tzinfo=dt.UTC)
MIN_W = 6 * 3 * V  # 4140 W: 6 A on three phases


def test_the_rule_keeps_the_manuals_outer_bound():
    assert clouds.HYSTERESIS_S == HYSTERESIS_S


@pytest.mark.parametrize(
    ("age_s", "sun_w", "bridge_w", "durations", "pause"),
    [
        # A deep cloud longer than every one of the last hour (+30 s): a cloud bank.
        (110, 800, 0, [40, 80, 60], True),
        (109, 800, 0, [40, 80, 60], False),  # not yet 30 s longer than the longest
        (60, 0, 0, [10, 20, 15], True),  # at least a minute, however short the others were
        (59, 0, 0, [10, 20, 15], False),
        (200, 800, 0, [40, 80], False),  # two clouds are no rhythm: the manual's 5 minutes
        (200, 1_700, 0, [40, 80, 60], False),  # shallow (sun pays 41 %): ride on
        (200, 1_600, 0, [40, 80, 60], True),  # deep (sun pays 39 %)
        (200, 800, 3_340, [40, 80, 60], False),  # a battery bridges the 3.34 kW deficit
        (200, 800, 3_000, [40, 80, 60], True),  # one that cannot
        (280, 800, 0, [40, 80, 280], False),  # the longest + 30 s is past the 5 minutes
        (300, 800, 0, [40, 80, 60], False),  # the hysteresis pauses by itself
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
DEEP_W = 1_000 + 6 * V  # 1 kW for the car: a deep cloud (24 % of the minimum power)
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


def test_a_deep_cloud_longer_than_the_recent_ones_pauses_early_and_the_8_minutes_still_hold():
    p = plant(box(mode=SOLAR_PURE))
    paused = clouds_then(p, DEEP_W)
    # The three clouds lasted about a minute (each seen a cycle late): a bank after 1:30 or so.
    assert paused is not None and 60 <= paused <= 120, paused
    reason = p.setpoint("carport").reason
    assert reason.startswith("cloud hysteresis: paused after") and "a cloud bank (the 3 clouds" in reason
    p.pv_w = SUN_W  # the sun is back at once: resuming still waits 8 minutes from the pause
    p.run(RESUME_S - 10)
    assert p.setpoint("carport").value == 0
    assert "cloud hysteresis: paused, resume possible in 0:10" in p.setpoint("carport").reason
    p.cycle(10)
    assert p.setpoint("carport").value >= 6.0


@pytest.mark.parametrize(
    ("case", "cloud_w", "passing"),
    [("shallow cloud", SHALLOW_W, 3), ("too few clouds to judge", DEEP_W, 2)],
)
def test_the_manuals_5_minutes_hold_where_the_rhythm_says_nothing(case, cloud_w, passing):
    p = plant(box(mode=SOLAR_PURE))
    assert clouds_then(p, cloud_w, passing=passing) == HYSTERESIS_S, case
    assert "paused for lack of surplus" in p.setpoint("carport").reason


def test_the_manuals_5_minutes_hold_without_the_look_ahead():
    p = plant(box(mode=SOLAR_PURE), controllers=(WallboxModes(look_ahead=False),))
    assert clouds_then(p, DEEP_W) == HYSTERESIS_S


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
