"""How controllers' decisions combine: bounds intersect, requests are clamped not discarded, a
controller that raises is isolated, memory carries over, order is the tuple's."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.control import FAILED, ControlLoop, Decision, Inputs
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, Limit, PlantState, Setpoint, Timer

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
STATE = PlantState(
    plant_id=1,
    timestamp=NOW,
    sequence=1,
    meter=None,
    meter_status=DeviceStatus(name="meter", online=False),
    flow=EnergyFlow(
        grid_power_w=None,
        pv_power_w=None,
        battery_power_w=None,
        battery_soc_pct=None,
        house_power_w=None,
        wallbox_power_w=None,
    ),
    totals=EnergyCounters(),
)


@dataclass
class Scripted:
    """A controller whose decision is a function of its inputs, written inline by each test."""

    name: str
    decide_with: Callable[[Inputs], Decision]

    def decide(self, inputs: Inputs) -> Decision:
        return self.decide_with(inputs)


def bound(name: str, device: str, quantity: str, *, max_value=None, min_value=None, reason: str = "") -> Scripted:
    return Scripted(
        name,
        lambda _: Decision(
            limits=(Limit(device=device, quantity=quantity, max_value=max_value, min_value=min_value, reason=reason),),
            state="limiting",
            reason=reason,
        ),
    )


def request(name: str, device: str, quantity: str, value: float, reason: str = "") -> Scripted:
    return Scripted(
        name,
        lambda _: Decision(
            requests=(Setpoint(device=device, quantity=quantity, value=value, reason=reason),), state="active"
        ),
    )


def written(loop: ControlLoop) -> dict[tuple[str, str], tuple[float, str, str]]:
    outcome = loop.run(STATE, None, NOW)
    return {(s.device, s.quantity): (s.value, s.reason, s.source) for s in outcome.setpoints}


@pytest.mark.parametrize(
    ("controllers", "expected"),
    [
        pytest.param(
            [request("battery", "mp", "battery_power_w", 5000.0, "surplus")],
            {("mp", "battery_power_w"): (5000.0, "surplus", "battery")},
            id="a request alone is written as asked",
        ),
        pytest.param(
            [
                bound("fuse", "mp", "battery_power_w", max_value=3000.0, reason="fuse 35 A"),
                request("battery", "mp", "battery_power_w", 5000.0, "surplus"),
            ],
            {("mp", "battery_power_w"): (3000.0, "fuse 35 A", "fuse")},
            id="a fuse cap clamps the battery's wish instead of discarding it",
        ),
        pytest.param(
            [
                bound("fuse", "mp", "battery_power_w", max_value=3000.0, reason="fuse"),
                request("battery", "mp", "battery_power_w", 1200.0, "surplus"),
            ],
            {("mp", "battery_power_w"): (1200.0, "surplus", "battery")},
            id="a request inside the bound keeps its own reason",
        ),
        pytest.param(
            [
                bound("lpp", "inv1", "active_power_limit_pct", max_value=70.0, reason="grid operator"),
                bound("feed_in", "inv1", "active_power_limit_pct", max_value=55.0, reason="feed-in limit"),
            ],
            {("inv1", "active_power_limit_pct"): (55.0, "feed-in limit", "feed_in")},
            id="bounds intersect: the tighter one holds, whoever set it",
        ),
        pytest.param(
            [
                bound("lpp", "inv1", "active_power_limit_pct", max_value=40.0, reason="grid operator"),
                bound("feed_in", "inv1", "active_power_limit_pct", max_value=55.0, reason="feed-in limit"),
            ],
            {("inv1", "active_power_limit_pct"): (40.0, "grid operator", "lpp")},
            id="a looser lower bound changes nothing",
        ),
        pytest.param(
            [
                bound("feed_in", "mp", "battery_power_w", min_value=2000.0, reason="absorb surplus"),
                request("battery", "mp", "battery_power_w", 500.0, "zero exchange"),
            ],
            {("mp", "battery_power_w"): (2000.0, "absorb surplus", "feed_in")},
            id="a floor raises a request below it",
        ),
        pytest.param(
            [
                bound("fuse", "mp", "battery_power_w", max_value=1000.0, reason="fuse"),
                bound("feed_in", "mp", "battery_power_w", min_value=2000.0, reason="absorb surplus"),
                request("battery", "mp", "battery_power_w", 500.0),
            ],
            {("mp", "battery_power_w"): (1000.0, "fuse", "fuse")},
            id="where cap and floor contradict, the cap wins",
        ),
        pytest.param(
            [
                request("first", "mp", "battery_power_w", 100.0, "first"),
                request("second", "mp", "battery_power_w", 900.0, "second"),
            ],
            {("mp", "battery_power_w"): (100.0, "first", "first")},
            id="the first request stands",
        ),
    ],
)
def test_decisions_combine(controllers, expected):
    assert written(ControlLoop(controllers)) == expected


def test_lower_controllers_see_the_bounds_set_above_them():
    seen: list[float | None] = []

    def battery(inputs: Inputs) -> Decision:
        seen.append(inputs.bound("mp", "battery_power_w").max_value)
        return Decision()

    loop = ControlLoop([bound("fuse", "mp", "battery_power_w", max_value=2500.0), Scripted("battery", battery)])
    loop.run(STATE, None, NOW)
    assert seen == [2500.0]


def test_a_controller_that_raises_is_isolated_reported_and_logged_once(caplog):
    def broken(inputs: Inputs) -> Decision:
        raise ZeroDivisionError("division by zero")

    loop = ControlLoop(
        [
            bound("feed_in", "inv1", "active_power_limit_pct", max_value=60.0, reason="limit"),
            Scripted("battery", broken),
            request("wallbox", "wb", "current_a", 6.0, "minimum"),
        ]
    )
    with caplog.at_level(logging.ERROR, logger="energy.control"):
        outcomes = [loop.run(STATE, None, NOW) for _ in range(3)]
    assert [r.getMessage() for r in caplog.records] == ["controller battery failed; the others still run"]
    statuses = {s.name: s for s in outcomes[-1].statuses}
    assert statuses["battery"].state == FAILED
    assert statuses["battery"].error == "ZeroDivisionError: division by zero"
    assert {(s.device, s.value) for s in outcomes[-1].setpoints} == {("inv1", 60.0), ("wb", 6.0)}


@dataclass(frozen=True)
class Calls:
    calls: int = 0


def test_memory_carries_over_and_timers_are_published():
    def counting(inputs: Inputs) -> Decision:
        calls = inputs.recall(Calls, Calls()).calls + 1
        return Decision(memory=Calls(calls), timers=(Timer(name="hysteresis", seconds_left=300.0 - calls),))

    loop = ControlLoop([Scripted("wallbox", counting)])
    for _ in range(3):
        outcome = loop.run(STATE, None, NOW)
    assert outcome.memory["wallbox"] == Calls(3)
    assert outcome.statuses[0].timers == (Timer(name="hysteresis", seconds_left=297.0),)


def test_controller_names_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        ControlLoop([request("a", "x", "y", 1.0), request("a", "x", "y", 2.0)])


@given(
    caps=st.lists(st.floats(0, 10_000), max_size=4),
    floors=st.lists(st.floats(0, 10_000), max_size=4),
    wish=st.floats(-10_000, 10_000),
)
def test_the_written_value_never_exceeds_any_cap(caps, floors, wish):
    controllers = [bound(f"cap{i}", "d", "q", max_value=c) for i, c in enumerate(caps)]
    controllers += [bound(f"floor{i}", "d", "q", min_value=f) for i, f in enumerate(floors)]
    controllers.append(request("wish", "d", "q", wish))
    value = written(ControlLoop(controllers))[("d", "q")][0]
    if caps:
        assert value <= min(caps)
    if floors and (not caps or max(floors) <= min(caps)):
        assert value >= max(floors)
    if (not caps or wish <= min(caps)) and (not floors or wish >= max(floors)):
        assert value == wish
