"""The protocol between the controllable system (cs.py) and the product.

The LPC/LPP state machine and its storage implement ``ControllableBackend`` against the database;
``MemoryBackend`` here serves the tests and the simulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Direction(StrEnum):
    CONSUME = "consume"
    PRODUCE = "produce"


@dataclass(frozen=True)
class PowerLimit:
    active: bool
    value_w: float  # magnitude >= 0 (the SPINE layer handles the LPP sign)
    duration_s: float | None = None  # remaining; None = no end


@dataclass(frozen=True)
class GridMeasurements:
    power_w: float  # positive = purchase from the grid
    power_per_phase_w: tuple[float, float, float]
    current_a: tuple[float, float, float]
    voltage_v: tuple[float, float, float]
    frequency_hz: float
    energy_consumed_wh: float
    energy_fed_in_wh: float


class Rejected(Exception):
    """The product refuses a write; ``reason`` is sent back in the SPINE result description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ControllableBackend(Protocol):
    """What the controllable system asks of the product. ``limit`` reports an expired limit as
    inactive (the CS deactivates it itself, LPC-TS-025); write methods raise ``Rejected`` to refuse;
    ``heartbeat`` is called only when the box's heartbeat counter or timestamp moved; a call that
    takes longer than 10 s is answered to the box as "not approved in time" (generalError)."""

    async def limit(self, direction: Direction) -> PowerLimit: ...

    async def write_limit(self, direction: Direction, limit: PowerLimit, peer_ski: str) -> None: ...

    async def failsafe_value_w(self, direction: Direction) -> float: ...

    async def failsafe_duration_s(self) -> float: ...

    async def write_failsafe(
        self,
        direction: Direction | None,
        value_w: float | None,
        duration_s: float | None,
        peer_ski: str,
    ) -> None: ...

    async def nominal_max_w(self, direction: Direction) -> float: ...

    async def heartbeat(self, peer_ski: str, counter: int | None) -> None: ...

    async def measurements(self) -> GridMeasurements | None: ...


@dataclass
class _StoredLimit:
    active: bool = False
    value_w: float = 0.0
    ends_at: float | None = None  # monotonic


@dataclass
class MemoryBackend:
    """Keeps everything in memory; limits expire by the clock; records what the SPINE side did."""

    failsafe_w: dict[Direction, float] = field(
        default_factory=lambda: {Direction.CONSUME: 10000.0, Direction.PRODUCE: 10000.0}
    )
    failsafe_s: float = 7200.0
    nominal_w: dict[Direction, float] = field(
        default_factory=lambda: {Direction.CONSUME: 32000.0, Direction.PRODUCE: 10000.0}
    )
    grid: GridMeasurements | None = None
    reject_reason: str | None = None  # set to make every write fail with this reason
    limits: dict[Direction, _StoredLimit] = field(
        default_factory=lambda: {Direction.CONSUME: _StoredLimit(), Direction.PRODUCE: _StoredLimit()}
    )
    limit_writes: list[tuple[Direction, PowerLimit, str]] = field(default_factory=list)
    failsafe_writes: list[tuple[Direction | None, float | None, float | None, str]] = field(default_factory=list)
    heartbeats: list[tuple[str, int | None]] = field(default_factory=list)

    def set_limit(self, direction: Direction, limit: PowerLimit) -> None:
        ends = None if limit.duration_s is None else time.monotonic() + limit.duration_s
        self.limits[direction] = _StoredLimit(limit.active, limit.value_w, ends)

    async def limit(self, direction: Direction) -> PowerLimit:
        stored = self.limits[direction]
        if stored.ends_at is None:
            return PowerLimit(stored.active, stored.value_w, None)
        remaining = stored.ends_at - time.monotonic()
        if remaining <= 0:  # the CS deactivates an expired limit itself (LPC-TS-025/-008)
            self.limits[direction] = _StoredLimit(False, stored.value_w, None)
            return PowerLimit(False, stored.value_w, None)
        return PowerLimit(stored.active, stored.value_w, remaining)

    async def write_limit(self, direction: Direction, limit: PowerLimit, peer_ski: str) -> None:
        if self.reject_reason:
            raise Rejected(self.reject_reason)
        self.set_limit(direction, limit)
        self.limit_writes.append((direction, limit, peer_ski))

    async def failsafe_value_w(self, direction: Direction) -> float:
        return self.failsafe_w[direction]

    async def failsafe_duration_s(self) -> float:
        return self.failsafe_s

    async def write_failsafe(
        self,
        direction: Direction | None,
        value_w: float | None,
        duration_s: float | None,
        peer_ski: str,
    ) -> None:
        if self.reject_reason:
            raise Rejected(self.reject_reason)
        if direction is not None and value_w is not None:
            self.failsafe_w[direction] = value_w
        if duration_s is not None:
            self.failsafe_s = duration_s
        self.failsafe_writes.append((direction, value_w, duration_s, peer_ski))

    async def nominal_max_w(self, direction: Direction) -> float:
        return self.nominal_w[direction]

    async def heartbeat(self, peer_ski: str, counter: int | None) -> None:
        self.heartbeats.append((peer_ski, counter))

    async def measurements(self) -> GridMeasurements | None:
        return self.grid
