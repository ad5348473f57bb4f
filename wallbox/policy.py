"""Fair sharing for several wallboxes (WB-14): pure arithmetic, no time, no state.

Two questions come up every cycle:

- *Hard limits* (main fuse per phase, unbalanced load, the grid operator's LPC): every box's
  current counts against one or more shared capacities. :func:`max_min_fair` raises all boxes
  together (progressive filling) until a capacity or the box's own maximum stops them, so no box
  gets less than another unless a limit it alone is under holds it there. :func:`fair_currents`
  then applies the minimum charging current: a box whose fair share is below its minimum cannot
  charge on it, so the box last in priority among those is taken out and the rest share again
  (better one car at 8 A than two cars paused at 4 A).
- *Solar surplus*: :func:`share_power` gives every charging box its floor, then the rest in equal
  watts up to each box's maximum (water-filling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EPSILON = 1e-6
# Currents are written in steps of this (the box takes a float; 0.1 A is plenty).
CURRENT_STEP_A = 0.1


@dataclass(frozen=True, slots=True)
class Capacity:
    """A shared capacity: sum(weight[box] * current[box]) <= amount, with a reason people read."""

    amount: float
    weights: Mapping[str, float]
    reason: str


@dataclass(frozen=True, slots=True)
class Share:
    """One box's share: its current and, when a capacity (not its own maximum) held it, why."""

    current_a: float
    reason: str = ""


def floor_step(value: float, step: float = CURRENT_STEP_A) -> float:
    """``value`` rounded down to ``step`` (never up: a limit must hold), and never below 0."""
    if value <= 0:
        return 0.0
    return round(math.floor(value / step + 1e-9) * step, 6)


def max_min_fair(maxima: Mapping[str, float], capacities: Sequence[Capacity]) -> dict[str, Share]:
    """Progressive filling: raise every box's current alike until it meets its maximum or a
    capacity it counts against is used up; then raise the others further.

    A capacity that is already negative (a phase over its fuse from the house alone) holds all
    of its boxes at 0.
    """
    values = {box: 0.0 for box in maxima}
    reasons = {box: "" for box in maxima}
    free = {box for box, top in maxima.items() if top > EPSILON}
    for box in maxima:
        if box not in free:
            reasons[box] = "box maximum"
    while free:
        step = math.inf
        for box in free:
            step = min(step, maxima[box] - values[box])
        for cap in capacities:
            rate = sum(weight for box, weight in cap.weights.items() if box in free and weight > 0)
            if rate > EPSILON:
                used = sum(weight * values.get(box, 0.0) for box, weight in cap.weights.items())
                step = min(step, (cap.amount - used) / rate)
        step = max(step, 0.0)
        for box in free:
            values[box] += step
        stopped: set[str] = set()
        for box in free:
            if values[box] >= maxima[box] - EPSILON:
                stopped.add(box)
                reasons[box] = "box maximum"
        for cap in capacities:
            members = {box for box, weight in cap.weights.items() if box in free and weight > 0}
            if not members:
                continue
            used = sum(weight * values.get(box, 0.0) for box, weight in cap.weights.items())
            if used >= cap.amount - EPSILON:
                for box in members - stopped:
                    reasons[box] = cap.reason
                stopped |= members
        if not stopped:  # cannot happen with finite maxima; guard against an endless loop
            break
        free -= stopped
    return {box: Share(values[box], reasons[box]) for box in maxima}


def fair_currents(
    maxima: Mapping[str, float],
    minima: Mapping[str, float],
    capacities: Sequence[Capacity],
    priority: Sequence[str],
) -> dict[str, Share]:
    """:func:`max_min_fair` with the minimum current applied.

    Every result is 0 or at least the box's minimum, rounded down to :data:`CURRENT_STEP_A`.
    Boxes below their minimum drop out one at a time, the last in ``priority`` first, and the
    others share again. A box that drops out gets 0 with the reason that held it.
    """
    active = dict(maxima)
    dropped: dict[str, str] = {}
    order = {box: index for index, box in enumerate(priority)}
    while True:
        shares = max_min_fair(active, capacities)
        floored = {box: floor_step(share.current_a) for box, share in shares.items()}
        short = [box for box in active if floored[box] < minima.get(box, 0.0) - EPSILON]
        if not short:
            result = {box: Share(floored[box], shares[box].reason) for box in active}
            result.update({box: Share(0.0, reason) for box, reason in dropped.items()})
            return result
        last = max(short, key=lambda box: order.get(box, len(order)))
        dropped[last] = shares[last].reason or "box maximum"
        del active[last]


def share_power(floors: Mapping[str, float], maxima: Mapping[str, float], budget_w: float) -> dict[str, float]:
    """Each box's power: its floor, then ``budget_w`` beyond all floors in equal watts up to its
    maximum (water-filling). Floors are given even when the budget does not cover them."""
    powers = {box: min(floors[box], maxima[box]) for box in floors}
    left = budget_w - sum(powers.values())
    free = {box for box in powers if maxima[box] - powers[box] > EPSILON}
    while left > EPSILON and free:
        step = min(left / len(free), min(maxima[box] - powers[box] for box in free))
        for box in free:
            powers[box] += step
        left -= step * len(free)
        free = {box for box in free if maxima[box] - powers[box] > EPSILON}
    return powers
