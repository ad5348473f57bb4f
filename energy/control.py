"""The controller protocol and how the decisions of several controllers combine.

A controller is a pure function of one cycle's inputs: the snapshot, the plant's settings, its
own memory from the previous cycle, the time, and the bounds that higher-priority controllers
have already set. It never touches Django, sockets or the clock; that is what lets a test
replay it cycle by cycle with a clock that leaps.

Combination rules (highest priority first, the order of the tuple handed to
:func:`run_controllers`):

- A controller *bounds* what lower ones may ask (:class:`~energy.state.Limit`): bounds on the
  same (device, quantity) intersect, the tightest holding, each with the reason that set it.
- A controller *requests* a value (:class:`~energy.state.Setpoint`). The first request for a
  (device, quantity) stands; a lower controller can no longer move it, only narrow the bounds.
- What the act step writes is the request clamped into the bounds. A request that a bound cut
  keeps its intent (the clamped value is as close as the bound allows) and carries the
  bound's reason. A bound with no request is written as its own ``max_value`` (or
  ``min_value``): an inverter limited to 60 % with nobody asking for more runs at 60 %.
- A controller that raises is isolated: its memory stays as it was, it contributes nothing
  this cycle, its status says ``failed`` with the error, and the error is logged once until it
  changes. The others still run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from energy.state import ControllerStatus, Limit, PlantState, Setpoint, Timer

log = logging.getLogger(__name__)

M = TypeVar("M")

Key = tuple[str, str]

# Controller states as shown to people.
OFF = "off"
IDLE = "idle"
ACTIVE = "active"
LIMITING = "limiting"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Bound:
    """The combined bounds on one (device, quantity) so far, each side with its reason."""

    max_value: float | None = None
    max_reason: str = ""
    max_source: str = ""
    min_value: float | None = None
    min_reason: str = ""
    min_source: str = ""

    def narrowed(self, limit: Limit) -> Bound:
        bound = self
        if limit.max_value is not None and (bound.max_value is None or limit.max_value < bound.max_value):
            bound = Bound(
                limit.max_value, limit.reason, limit.source, bound.min_value, bound.min_reason, bound.min_source
            )
        if limit.min_value is not None and (bound.min_value is None or limit.min_value > bound.min_value):
            bound = Bound(
                bound.max_value, bound.max_reason, bound.max_source, limit.min_value, limit.reason, limit.source
            )
        return bound

    def clamp(self, value: float) -> tuple[float, str, str] | None:
        """(clamped value, reason, source) when a bound cut ``value``; ``None`` when it fits.

        Where the bounds contradict each other (min above max) the maximum wins: a cap exists
        for safety (fuse, grid operator), a floor only for comfort.
        """
        if self.max_value is not None and value > self.max_value:
            return self.max_value, self.max_reason, self.max_source
        if self.min_value is not None and value < self.min_value:
            if self.max_value is not None and self.min_value > self.max_value:
                return self.max_value, self.max_reason, self.max_source
            return self.min_value, self.min_reason, self.min_source
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """One cycle's inputs of one controller."""

    state: PlantState
    settings: Any
    # What this controller's last decision remembered (its own frozen dataclass), ``None``
    # before its first decision or after one that remembered nothing.
    memory: object
    now: dt.datetime
    bounds: Mapping[Key, Bound]
    requests: Mapping[Key, Setpoint]

    def bound(self, device: str, quantity: str) -> Bound:
        return self.bounds.get((device, quantity), Bound())

    def recall(self, kind: type[M], empty: M) -> M:
        """The controller's memory if it is a ``kind``, else ``empty`` (nothing remembered)."""
        memory = self.memory
        return memory if isinstance(memory, kind) else empty


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What one controller decided this cycle."""

    requests: tuple[Setpoint, ...] = ()
    limits: tuple[Limit, ...] = ()
    # Handed back as :attr:`Inputs.memory` next cycle; a frozen dataclass of the controller's own.
    memory: object = None
    state: str = IDLE
    reason: str = ""
    timers: tuple[Timer, ...] = ()


class Controller(Protocol):
    """A named pure function of :class:`Inputs`."""

    @property
    def name(self) -> str: ...

    def decide(self, inputs: Inputs) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    setpoints: tuple[Setpoint, ...]
    limits: tuple[Limit, ...]
    memory: Mapping[str, object]
    statuses: tuple[ControllerStatus, ...]


@dataclass
class ControlLoop:
    """Runs a fixed tuple of controllers each cycle and remembers their memory and errors."""

    controllers: Sequence[Controller]
    memory: dict[str, object] = field(default_factory=dict)
    _logged_errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.controllers]
        if len(set(names)) != len(names):
            raise ValueError(f"controller names must be unique, got {names}")

    def run(self, state: PlantState, settings: Any, now: dt.datetime) -> Outcome:
        bounds: dict[Key, Bound] = {}
        requests: dict[Key, Setpoint] = {}
        limits: list[Limit] = []
        statuses: list[ControllerStatus] = []
        for controller in self.controllers:
            name = controller.name
            inputs = Inputs(
                state=state,
                settings=settings,
                memory=self.memory.get(name),
                now=now,
                bounds=MappingProxyType(dict(bounds)),
                requests=MappingProxyType(dict(requests)),
            )
            try:
                decision = controller.decide(inputs)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if self._logged_errors.get(name) != error:
                    log.exception("controller %s failed; the others still run", name)
                    self._logged_errors[name] = error
                statuses.append(ControllerStatus(name=name, state=FAILED, reason="internal error", error=error))
                continue
            if name in self._logged_errors:
                log.warning("controller %s works again", name)
                del self._logged_errors[name]
            self.memory[name] = decision.memory
            for limit in decision.limits:
                limit = limit if limit.source else dataclasses.replace(limit, source=name)
                limits.append(limit)
                key = (limit.device, limit.quantity)
                bounds[key] = bounds.get(key, Bound()).narrowed(limit)
            for request in decision.requests:
                key = (request.device, request.quantity)
                if key not in requests:
                    requests[key] = request if request.source else dataclasses.replace(request, source=name)
            statuses.append(
                ControllerStatus(name=name, state=decision.state, reason=decision.reason, timers=decision.timers)
            )
        return Outcome(combine(requests, bounds), tuple(limits), dict(self.memory), tuple(statuses))


def combine(requests: Mapping[Key, Setpoint], bounds: Mapping[Key, Bound]) -> tuple[Setpoint, ...]:
    """Every request clamped into its bounds, then every bound that nobody requested a value for."""
    setpoints: list[Setpoint] = []
    for key, request in requests.items():
        cut = bounds.get(key, Bound()).clamp(request.value)
        if cut is None:
            setpoints.append(request)
        else:
            value, reason, source = cut
            setpoints.append(Setpoint(device=key[0], quantity=key[1], value=value, reason=reason, source=source))
    for key, bound in bounds.items():
        if key in requests:
            continue
        if bound.max_value is not None:
            value, reason, source = bound.max_value, bound.max_reason, bound.max_source
        elif bound.min_value is not None:
            value, reason, source = bound.min_value, bound.min_reason, bound.min_source
        else:
            continue
        setpoints.append(Setpoint(device=key[0], quantity=key[1], value=value, reason=reason, source=source))
    return tuple(setpoints)
