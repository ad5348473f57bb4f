"""The controller registry runs in the fixed priority order and higher priority wins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from plant.controllers import PRIORITY, ControllerRegistry, Decision
from plant.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState, Setpoint

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
STATE = PlantState(
    1, NOW, 1, None, DeviceStatus("meter", False), EnergyFlow(None, None, None, None, None, None), EnergyCounters()
)


def limiting(value: float, reason: str):
    def controller(state, config, memory, now):
        return Decision((Setpoint("inverter1", "power_limit_w", value, reason),), {"calls": memory.get("calls", 0) + 1})

    return controller


def test_higher_priority_setpoint_wins_and_the_other_is_overruled():
    registry = ControllerRegistry()
    # Registered in the "wrong" order on purpose: the registry orders by PRIORITY.
    registry.register("feed_in_limitation")(limiting(7000.0, "feed-in limit 70 %"))
    registry.register("grid_operator_limits")(limiting(4200.0, "grid operator LPP"))
    outcome = registry.decide(STATE, None, {}, NOW)
    assert [s.reason for s in outcome.setpoints] == ["grid operator LPP"]
    assert [s.reason for s in outcome.overruled] == ["feed-in limit 70 %"]
    assert registry.names() == ["grid_operator_limits", "feed_in_limitation"]


def test_memory_is_handed_back_to_each_controller_next_cycle():
    registry = ControllerRegistry()
    registry.register("battery")(limiting(1.0, "x"))
    memory: Mapping[str, Mapping[str, Any]] = {}
    for _ in range(3):
        memory = registry.decide(STATE, None, memory, NOW).memory
    assert memory["battery"]["calls"] == 3


def test_controllers_cannot_mutate_their_memory_in_place():
    registry = ControllerRegistry()

    def sneaky(state, config, memory, now):
        memory["x"] = 1
        return Decision()

    registry.register("battery")(sneaky)
    with pytest.raises(TypeError):
        registry.decide(STATE, None, {"battery": {}}, NOW)


@pytest.mark.parametrize("slot", ["wallbox", "", "LPC"])
def test_unknown_slots_are_refused(slot):
    with pytest.raises(ValueError, match="unknown controller slot"):
        ControllerRegistry().register(slot)


def test_a_slot_takes_one_controller():
    registry = ControllerRegistry()
    registry.register(PRIORITY[0])(limiting(1.0, "a"))
    with pytest.raises(ValueError, match="taken"):
        registry.register(PRIORITY[0])(limiting(2.0, "b"))
