"""Controller registry: pure functions run in a fixed priority order every cycle.

A controller is ``(state, config, memory, now) -> Decision``. It never touches Django,
sockets or the clock. Higher-priority controllers win: once a (device, quantity) has a
setpoint, a later controller cannot change it, and its attempt is recorded as overruled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from plant.state import PlantState, Setpoint

# Highest priority first (DESIGN.md, "decide").
PRIORITY: tuple[str, ...] = (
    "grid_operator_limits",
    "main_fuse_guard",
    "unbalanced_load",
    "feed_in_limitation",
    "battery",
    "wallbox_modes",
)


@dataclass(frozen=True)
class Decision:
    setpoints: tuple[Setpoint, ...] = ()
    memory: Mapping[str, Any] = field(default_factory=dict)


Controller = Callable[[PlantState, Any, Mapping[str, Any], dt.datetime], Decision]


@dataclass(frozen=True)
class Outcome:
    setpoints: tuple[Setpoint, ...]
    memory: Mapping[str, Mapping[str, Any]]
    overruled: tuple[Setpoint, ...]


class ControllerRegistry:
    def __init__(self) -> None:
        self._controllers: dict[str, Controller] = {}

    def register(self, name: str) -> Callable[[Controller], Controller]:
        if name not in PRIORITY:
            raise ValueError(f"unknown controller slot {name!r}; slots are {', '.join(PRIORITY)}")

        def add(func: Controller) -> Controller:
            if name in self._controllers:
                raise ValueError(f"controller slot {name!r} is taken by {self._controllers[name].__qualname__}")
            self._controllers[name] = func
            return func

        return add

    def names(self) -> list[str]:
        return [name for name in PRIORITY if name in self._controllers]

    def decide(
        self, state: PlantState, config: Any, memory: Mapping[str, Mapping[str, Any]], now: dt.datetime
    ) -> Outcome:
        chosen: dict[tuple[str, str], Setpoint] = {}
        overruled: list[Setpoint] = []
        new_memory: dict[str, Mapping[str, Any]] = {}
        for name in self.names():
            decision = self._controllers[name](state, config, MappingProxyType(dict(memory.get(name, {}))), now)
            new_memory[name] = decision.memory
            for setpoint in decision.setpoints:
                key = (setpoint.device, setpoint.quantity)
                if key in chosen:
                    overruled.append(setpoint)
                else:
                    chosen[key] = setpoint
        return Outcome(tuple(chosen.values()), new_memory, tuple(overruled))


# The product's controllers register here; later issues add feed-in limitation, battery, wallbox.
registry = ControllerRegistry()
