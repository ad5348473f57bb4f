"""The sub-second guard's pure rules (plant.guard): no database, no sockets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import ACTIVE_POWER_LIMIT_PCT, BATTERY_POWER_W, CHARGING_CURRENT_A, CHARGING_PHASES
from energy.state import Setpoint
from plant import fastpass, guard

PCT, AMPS = ACTIVE_POWER_LIMIT_PCT, CHARGING_CURRENT_A


def settle(start_w: float, target_w: float, t_s: float, settling_s: float = guard.SETTLING_S) -> float:
    """The modelled inverter: first order, time constant settling_s / 3."""
    return target_w + (start_w - target_w) * math.exp(-3.0 * t_s / settling_s)


@pytest.mark.parametrize(
    ("hold_s", "settling_s", "gain"),
    [
        (0.2, 1.0, math.exp(-0.6) / (1 - math.exp(-0.6))),  # ~1.22: lead by a little more than the excess
        (0.5, 1.0, math.exp(-1.5) / (1 - math.exp(-1.5))),  # ~0.29
        (0.2, 0.0, 0.0),  # an inverter that jumps needs no lead
        (0.0, 1.0, 0.0),
    ],
)
def test_lead_gain(hold_s: float, settling_s: float, gain: float) -> None:
    assert guard.lead_gain(hold_s, settling_s) == pytest.approx(gain)


@pytest.mark.parametrize(
    ("excess_w", "lead_w"),
    [(-500.0, 0.0), (0.0, 0.0), (guard.LEAD_THRESHOLD_W, 0.0), (5_000.0, 5_000.0 * guard.lead_gain(0.2))],
)
def test_small_excesses_get_no_lead(excess_w: float, lead_w: float) -> None:
    assert guard.lead_w(excess_w, 0.2) == pytest.approx(lead_w)


@given(
    excess_w=st.floats(min_value=guard.LEAD_THRESHOLD_W + 1, max_value=30_000),
    plain_w=st.floats(min_value=0, max_value=30_000),
    hold_s=st.sampled_from([0.2, 0.5]),
)
def test_the_led_inverter_reaches_the_plain_limit_when_the_next_pass_comes(
    excess_w: float, plain_w: float, hold_s: float
) -> None:
    target_w = plain_w - guard.lead_w(excess_w, hold_s)
    assert settle(plain_w + excess_w, target_w, hold_s) == pytest.approx(plain_w, abs=1e-6 * (plain_w + excess_w))
    # Commanded only the plain limit it would still be far above it.
    assert settle(plain_w + excess_w, plain_w, hold_s) - plain_w > 0.05 * excess_w


def test_the_lead_is_shared_by_size_and_kostal_takes_whole_percent() -> None:
    pcts = guard.lead_pcts(
        {"roof": 60.0, "garage": 60.0}, {"roof": 10_000.0, "garage": 5_000.0}, 3_000.0, frozenset({"roof"})
    )
    assert pcts == {"roof": 40.0, "garage": 40.0}
    odd = guard.lead_pcts({"roof": 60.0}, {"roof": 10_000.0}, 1_234.0, frozenset({"roof"}))
    assert odd == {"roof": 47.0}  # 47.66 rounded down: never less lead than asked
    assert guard.lead_pcts({"a": 5.0}, {"a": 1_000.0}, 5_000.0) == {"a": 0.0}
    assert guard.lead_pcts({"a": 50.0}, {"a": 1_000.0}, 0.0) == {"a": 50.0}


IN_FORCE = (
    Setpoint(device="roof", quantity=PCT, value=60.0, reason="feed-in limit"),
    Setpoint(device="hybrid", quantity=BATTERY_POWER_W, value=2_000.0, reason="battery"),
    Setpoint(device="hybrid", quantity=PCT, value=80.0, reason="feed-in limit"),
    Setpoint(device="box", quantity=AMPS, value=16.0, reason="power mode"),
    Setpoint(device="box", quantity=CHARGING_PHASES, value=3.0, reason="power mode"),
)


@pytest.mark.parametrize(
    ("proposed", "expected"),
    [
        ({("roof", PCT): 50.0}, {("roof", PCT): 50.0}),
        ({("roof", PCT): 70.0}, {}),  # raising is the cycle's
        ({("roof", PCT): 59.8}, {}),  # within the deadband: not worth a write
        ({("box", AMPS): 7.4}, {("box", AMPS): 7.4}),
        ({("box", AMPS): 15.95}, {}),
        ({("box", CHARGING_PHASES): 1.0}, {}),  # phases are not the guard's
        ({("hybrid", BATTERY_POWER_W): 0.0}, {}),
        # An inverter with no limit in force runs free, at 100 %: the guard may cap it ...
        ({("other", PCT): 10.0}, {("other", PCT): 10.0}),
        ({("other", PCT): 99.8}, {}),
        # ... a charging current nobody set is unknown: left to the cycle.
        ({("other box", AMPS): 6.0}, {}),
    ],
)
def test_a_guard_pass_only_lowers_what_is_held(proposed: dict, expected: dict) -> None:
    assert guard.lowered(IN_FORCE, proposed) == expected


@given(
    st.dictionaries(
        st.sampled_from([("roof", PCT), ("box", AMPS), ("hybrid", PCT), ("free", PCT), ("free box", AMPS)]),
        st.floats(0, 200),
    )
)
def test_lowered_never_raises(proposed: dict) -> None:
    current = guard.in_force_values(IN_FORCE)
    held = {**current, ("free", PCT): 100.0}
    assert all(value < held[key] for key, value in guard.lowered(IN_FORCE, proposed).items())


def test_a_device_is_handed_all_its_setpoints_so_the_driver_releases_nothing() -> None:
    writes = guard.device_writes(IN_FORCE, {("hybrid", PCT): 50.0}, "guard")
    assert list(writes) == ["hybrid"]
    assert [(s.quantity, s.value) for s in writes["hybrid"]] == [(BATTERY_POWER_W, 2_000.0), (PCT, 50.0)]
    assert writes["hybrid"][1].reason == "guard"


def test_a_limit_the_guard_adds_is_handed_with_the_devices_other_setpoints() -> None:
    in_force = (Setpoint(device="hybrid", quantity=BATTERY_POWER_W, value=2_000.0, source="battery"),)
    changes = {("hybrid", PCT): 40.0, ("garage", PCT): 40.0}
    writes = guard.device_writes(in_force, changes, "guard", {("hybrid", PCT): "feed_in_limitation"})
    assert [(s.quantity, s.value) for s in writes["hybrid"]] == [(BATTERY_POWER_W, 2_000.0), (PCT, 40.0)]
    assert writes["hybrid"][1].source == "feed_in_limitation" and writes["hybrid"][1].reason == "guard"
    assert [(s.device, s.quantity, s.value) for s in writes["garage"]] == [("garage", PCT, 40.0)]
    after = guard.merged(in_force, writes)
    assert guard.in_force_values(after) == {("hybrid", BATTERY_POWER_W): 2_000.0, **changes}
    assert after[0] is in_force[0]


def test_the_cycle_keeps_a_lead_in_force_but_never_raises_by_it() -> None:
    kept = guard.with_lead(IN_FORCE, {("roof", PCT): 40.0, ("hybrid", PCT): 90.0})
    assert kept[0].value == 40.0 and "lead" in kept[0].reason
    assert kept[2].value == 80.0
    assert guard.with_lead(IN_FORCE, {}) == IN_FORCE


@pytest.mark.parametrize(
    ("values", "count"),
    [
        ([], 0),
        ([1, 1, 1], 0),
        ([10, 5, 5, 8, 9], 1),  # down once, up once: a lead and its release
        ([10, 5, 8, 4, 9], 3),  # oscillation
        ([10, 10.00001, 10], 0),  # within the deadband
    ],
)
def test_reversals(values: list[float], count: int) -> None:
    assert guard.reversals(values, deadband=0.001) == count


@pytest.mark.parametrize(
    ("raw", "period_s"),
    [(None, 0.2), ("", 0.2), ("0.5", 0.5), ("0", 0.0), ("0.2", 0.2), ("0.3", 0.2), ("fast", 0.2)],
)
def test_the_guard_period_comes_from_the_environment(raw: str | None, period_s: float) -> None:
    environ = {} if raw is None else {fastpass.PERIOD_ENV: raw}
    assert fastpass.period_from_env(environ) == period_s
