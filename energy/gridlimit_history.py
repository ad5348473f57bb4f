"""The grid operator's limits, their history (SG-3): one entry per period of one direction.

A transition of the state machine (:mod:`energy.gridlimit`) opens a new entry unless it changes
neither the kind nor the limit. :class:`History` keeps the entries as a ring in memory and
:class:`LimitStore` the facts and the history of one plant (the replay; tests); the product's
persistent store (``smartgrid.services``) does the same with the database. Pure like the state
machine: no Django, no clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from energy.gridlimit import (
    DIRECTIONS,
    Facts,
    GridLimitStatus,
    Transition,
    advance,
    heartbeat,
    kind_of,
    limit_in_force,
    restart,
    status,
    write_failsafe,
    write_limit,
)

HISTORY_SIZE = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One period of one direction: unlimited, limited (with the limit) or limited with the
    failsafe value, from ``valid_from`` to ``valid_to`` (``None``: still in force)."""

    direction: str
    kind: str
    value_w: float | None
    valid_from: dt.datetime
    valid_to: dt.datetime | None = None


def entry_of(facts: Facts, transition: Transition) -> HistoryEntry:
    m = transition.machine
    return HistoryEntry(
        direction=transition.direction,
        kind=kind_of(m.state),
        value_w=limit_in_force(facts, transition.direction, m),
        valid_from=m.since,
    )


def same_period(a: HistoryEntry, b: HistoryEntry) -> bool:
    """A transition that changes neither the kind nor the limit opens no new history entry."""
    return a.direction == b.direction and a.kind == b.kind and a.value_w == b.value_w


class History:
    """The history as a ring of at most ``size`` entries (oldest dropped), in memory."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self.entries: deque[HistoryEntry] = deque(maxlen=size)

    def current(self, direction: str) -> HistoryEntry | None:
        return next((e for e in reversed(self.entries) if e.direction == direction and e.valid_to is None), None)

    def record(self, facts: Facts, transitions: Iterable[Transition]) -> None:
        for transition in transitions:
            entry = entry_of(facts, transition)
            current = self.current(transition.direction)
            if current is not None and same_period(current, entry):
                continue
            if current is not None:
                index = self.entries.index(current)
                self.entries[index] = dataclasses.replace(current, valid_to=entry.valid_from)
            self.entries.append(entry)


class LimitStore:
    """The facts and the history in memory, for one plant (the replay; tests). The product's
    persistent store (``smartgrid.services``) does the same with the database."""

    def __init__(self, facts: Facts, history_size: int = HISTORY_SIZE) -> None:
        self.facts = facts
        self.history = History(history_size)
        self.history.record(facts, (Transition(direction=d, machine=facts.machine(d)) for d in DIRECTIONS))

    def _apply(self, result: tuple[Facts, tuple[Transition, ...]]) -> None:
        self.facts, transitions = result
        self.history.record(self.facts, transitions)

    def settle(self, now: dt.datetime) -> None:
        self._apply(advance(self.facts, now))

    def heartbeat(self, at: dt.datetime) -> None:
        self._apply(heartbeat(self.facts, at))

    def write_limit(
        self, direction: str, *, active: bool, value_w: float, duration_s: float | None, at: dt.datetime
    ) -> None:
        self._apply(write_limit(self.facts, direction, active=active, value_w=value_w, duration_s=duration_s, at=at))

    def write_failsafe(self, direction: str | None, value_w: float | None, duration_s: float | None) -> None:
        self.facts = write_failsafe(self.facts, direction, value_w, duration_s)

    def restart(self, at: dt.datetime) -> None:
        self._apply(restart(self.facts, at))

    def status(self, now: dt.datetime) -> GridLimitStatus:
        return status(self.facts, now)
