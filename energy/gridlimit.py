"""The grid operator's limits (LPC on purchase, LPP on feed-in) as a pure state machine.

No Django, no clock, no sockets: the state of each direction is a function of stored facts
and the time (:func:`advance`), so any process (the cycle, the EEBus service, a page) can
evaluate it, and a restart keeps it. Events change the facts: a heartbeat of the energy guard
(:func:`heartbeat`), a limit write (:func:`write_limit`), a failsafe write
(:func:`write_failsafe`), a restart of the controllable system (:func:`restart`). Everything
else (a limit's duration running out, the heartbeat missing for 120 s, the failsafe duration
ending) is a timer that :func:`advance` applies at the exact time it fired, however late it is
asked.

States (per direction; both share the heartbeat and the failsafe duration):

- ``init``: after a (re)start, limited to the failsafe value. Left by a limit write that
  follows a heartbeat (active -> ``limited``, inactive -> ``unlimited_controlled``); to
  ``failsafe`` when no heartbeat came within 120 s (or the heartbeat went missing for 120 s);
  to ``unlimited_autonomous`` when the heartbeat is there but no limit was written within
  120 s of the first one.
- ``unlimited_controlled``: no limit. An active limit -> ``limited``; heartbeat missing for
  120 s -> ``failsafe``.
- ``limited``: the written limit. Its duration running out or an inactive write ->
  ``unlimited_controlled``; heartbeat missing for 120 s -> ``failsafe``.
- ``failsafe``: the failsafe value, at least for the failsafe duration; left earlier only by a
  heartbeat and a following limit write. When the duration is over: ``unlimited_autonomous``,
  but if the heartbeat came back, not before the energy guard had 120 s to write a limit.
- ``unlimited_autonomous``: no limit, until a heartbeat and a following limit write.

Values are magnitudes in W (>= 0) in both directions; :func:`magnitude_from_spine` turns a
SPINE value (LPP is <= 0 there) into one, refusing the wrong sign.
The history of the periods (SG-3) is :mod:`energy.gridlimit_history`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

CONSUME = "consume"
PRODUCE = "produce"
DIRECTIONS = (CONSUME, PRODUCE)

INIT = "init"
UNLIMITED_CONTROLLED = "unlimited_controlled"
LIMITED = "limited"
FAILSAFE = "failsafe"
UNLIMITED_AUTONOMOUS = "unlimited_autonomous"
STATES = (INIT, UNLIMITED_CONTROLLED, LIMITED, FAILSAFE, UNLIMITED_AUTONOMOUS)
# States left only by a heartbeat and a following limit write.
WAITING_STATES = (INIT, FAILSAFE, UNLIMITED_AUTONOMOUS)

# History kinds (SG-3).
UNLIMITED = "unlimited"
LIMITED_KIND = "limited"
FAILSAFE_KIND = "failsafe"

HEARTBEAT_TIMEOUT_S = 120.0
# After the heartbeat (re)appears, the energy guard has this long to write a limit.
WRITE_WAIT_S = 120.0
FAILSAFE_DURATION_MIN_S = 2 * 3600.0
FAILSAFE_DURATION_MAX_S = 24 * 3600.0
DEFAULT_FAILSAFE_W = 10_000.0
DEFAULT_FAILSAFE_DURATION_S = 7200.0
DEFAULT_CONSUMPTION_NOMINAL_MAX_W = 32_000.0
DEFAULT_PRODUCTION_NOMINAL_MAX_W = 10_000.0
# A value beyond this is no power limit of a house (guards against absurd input).
MAX_LIMIT_W = 1e9


class Rejected(Exception):
    """A write the controllable system refuses; nothing changed. ``reason`` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenLimit:
    """A limit as the energy guard wrote it (or as the controllable system deactivated it)."""

    active: bool
    value_w: float
    written_at: dt.datetime
    duration_s: float | None = None

    @property
    def valid_until(self) -> dt.datetime | None:
        if self.duration_s is None:
            return None
        return self.written_at + dt.timedelta(seconds=self.duration_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """One direction's state since ``since``; ``heard_at`` is the first heartbeat since then
    (kept only in the states that wait for one)."""

    state: str
    since: dt.datetime
    limit: WrittenLimit | None = None
    heard_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Everything the state machine needs, all of it stored persistently."""

    consume: Machine
    produce: Machine
    last_heartbeat_at: dt.datetime | None = None
    failsafe_consumption_w: float = DEFAULT_FAILSAFE_W
    failsafe_production_w: float = DEFAULT_FAILSAFE_W
    failsafe_duration_s: float = DEFAULT_FAILSAFE_DURATION_S
    consumption_nominal_max_w: float = DEFAULT_CONSUMPTION_NOMINAL_MAX_W
    production_nominal_max_w: float = DEFAULT_PRODUCTION_NOMINAL_MAX_W

    def machine(self, direction: str) -> Machine:
        return self.consume if direction == CONSUME else self.produce

    def with_machine(self, direction: str, machine: Machine) -> Facts:
        if direction == CONSUME:
            return dataclasses.replace(self, consume=machine)
        return dataclasses.replace(self, produce=machine)

    def failsafe_w(self, direction: str) -> float:
        return self.failsafe_consumption_w if direction == CONSUME else self.failsafe_production_w


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """A direction entering ``machine.state`` at ``machine.since``."""

    direction: str
    machine: Machine


def initial(
    now: dt.datetime,
    *,
    failsafe_consumption_w: float = DEFAULT_FAILSAFE_W,
    failsafe_production_w: float = DEFAULT_FAILSAFE_W,
    failsafe_duration_s: float = DEFAULT_FAILSAFE_DURATION_S,
    consumption_nominal_max_w: float = DEFAULT_CONSUMPTION_NOMINAL_MAX_W,
    production_nominal_max_w: float = DEFAULT_PRODUCTION_NOMINAL_MAX_W,
) -> Facts:
    """A fresh controllable system: both directions in ``init`` since ``now``."""
    return Facts(
        consume=Machine(state=INIT, since=now),
        produce=Machine(state=INIT, since=now),
        failsafe_consumption_w=failsafe_consumption_w,
        failsafe_production_w=failsafe_production_w,
        failsafe_duration_s=failsafe_duration_s,
        consumption_nominal_max_w=consumption_nominal_max_w,
        production_nominal_max_w=production_nominal_max_w,
    )


# --- timers ----------------------------------------------------------------------------------


def _next(facts: Facts, direction: str) -> tuple[dt.datetime, Machine] | None:
    """The next timer of one direction: (when, the machine from then on), or ``None``."""
    m = facts.machine(direction)
    lost = facts.last_heartbeat_at + _s(HEARTBEAT_TIMEOUT_S) if facts.last_heartbeat_at is not None else None
    candidates: list[tuple[dt.datetime, int, Machine]] = []
    if m.state == INIT:
        if m.heard_at is None:
            at = m.since + _s(HEARTBEAT_TIMEOUT_S)
            candidates.append((at, 0, Machine(state=FAILSAFE, since=at, limit=m.limit)))
        else:
            if lost is not None:
                candidates.append((lost, 0, Machine(state=FAILSAFE, since=lost, limit=m.limit)))
            at = m.heard_at + _s(WRITE_WAIT_S)
            candidates.append(
                (at, 1, Machine(state=UNLIMITED_AUTONOMOUS, since=at, limit=m.limit, heard_at=m.heard_at))
            )
    elif m.state in (UNLIMITED_CONTROLLED, LIMITED):
        if lost is not None:
            candidates.append((lost, 0, Machine(state=FAILSAFE, since=max(lost, m.since), limit=m.limit)))
        until = m.limit.valid_until if m.state == LIMITED and m.limit is not None else None
        if until is not None:
            assert m.limit is not None
            ended = dataclasses.replace(m.limit, active=False)
            candidates.append((until, 1, Machine(state=UNLIMITED_CONTROLLED, since=max(until, m.since), limit=ended)))
    elif m.state == FAILSAFE:
        at = m.since + _s(facts.failsafe_duration_s)
        if m.heard_at is not None:
            at = max(at, m.heard_at + _s(WRITE_WAIT_S))
        candidates.append((at, 0, Machine(state=UNLIMITED_AUTONOMOUS, since=at, limit=m.limit, heard_at=m.heard_at)))
    if not candidates:
        return None
    at, _, machine = min(candidates, key=lambda c: (c[0], c[1]))
    return at, machine


def _s(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=seconds)


def advance(facts: Facts, now: dt.datetime) -> tuple[Facts, tuple[Transition, ...]]:
    """The facts with every timer due by ``now`` applied, and the transitions that made,
    each at the time its timer fired (in time order)."""
    transitions: list[Transition] = []
    for direction in DIRECTIONS:
        for _ in range(16):  # a chain of timers is short (init -> failsafe -> autonomous)
            due = _next(facts, direction)
            if due is None or due[0] > now:
                break
            facts = facts.with_machine(direction, due[1])
            transitions.append(Transition(direction=direction, machine=due[1]))
    transitions.sort(key=lambda t: t.machine.since)
    return facts, tuple(transitions)


def next_change(facts: Facts, direction: str) -> dt.datetime | None:
    """When the direction's state ends by itself if nothing happens (limit end, failsafe end, ...)."""
    due = _next(facts, direction)
    return due[0] if due is not None else None


# --- events ----------------------------------------------------------------------------------


def heartbeat(facts: Facts, at: dt.datetime) -> tuple[Facts, tuple[Transition, ...]]:
    """The energy guard's heartbeat arrived at ``at``."""
    facts, transitions = advance(facts, at)
    if facts.last_heartbeat_at is not None and at < facts.last_heartbeat_at:
        return facts, transitions  # an old one arriving late changes nothing
    facts = dataclasses.replace(facts, last_heartbeat_at=at)
    for direction in DIRECTIONS:
        m = facts.machine(direction)
        if m.state in WAITING_STATES and m.heard_at is None:
            facts = facts.with_machine(direction, dataclasses.replace(m, heard_at=at))
    return facts, transitions


def check_limit_value(direction: str, value_w: float) -> float:
    """A limit's magnitude as written, validated: finite, not negative."""
    if not isinstance(value_w, int | float) or isinstance(value_w, bool) or not math.isfinite(value_w):
        raise Rejected(f"the {_name(direction)} limit must be a number of watts, got {value_w!r}")
    if value_w < 0:
        raise Rejected(f"negative limit: the {_name(direction)} limit must be 0 W or more, got {value_w:g} W")
    if value_w > MAX_LIMIT_W:
        raise Rejected(f"the {_name(direction)} limit {value_w:g} W is out of range")
    return float(value_w)


def magnitude_from_spine(direction: str, spine_value_w: float) -> float:
    """A SPINE limit value as a magnitude: LPC must be >= 0 W, LPP <= 0 W (passive sign)."""
    if not isinstance(spine_value_w, int | float) or not math.isfinite(spine_value_w):
        raise Rejected(f"the {_name(direction)} limit must be a number of watts, got {spine_value_w!r}")
    if direction == CONSUME:
        if spine_value_w < 0:
            raise Rejected(f"negative limit: a consumption limit must be 0 W or more, got {spine_value_w:g} W")
        return check_limit_value(direction, float(spine_value_w))
    if spine_value_w > 0:
        raise Rejected(f"positive limit: a production limit must be 0 W or less, got {spine_value_w:g} W")
    return check_limit_value(direction, -float(spine_value_w))


def write_limit(
    facts: Facts,
    direction: str,
    *,
    active: bool,
    value_w: float,
    duration_s: float | None,
    at: dt.datetime,
) -> tuple[Facts, tuple[Transition, ...]]:
    """The energy guard writes a limit; raises :class:`Rejected` (facts unchanged) if refused."""
    if direction not in DIRECTIONS:
        raise Rejected(f"unknown direction {direction!r} (consume or produce)")
    value_w = check_limit_value(direction, value_w)
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s < 0):
        raise Rejected(f"the duration must be 0 s or more, got {duration_s!r}")
    facts, transitions = advance(facts, at)
    m = facts.machine(direction)
    alive = facts.last_heartbeat_at is not None and at - facts.last_heartbeat_at <= _s(HEARTBEAT_TIMEOUT_S)
    if m.state in WAITING_STATES and (m.heard_at is None or not alive):
        raise Rejected(f"no heartbeat from the energy guard since the state {m.state} began: limit not taken")
    limit = WrittenLimit(active=active, value_w=value_w, written_at=at, duration_s=duration_s)
    state = LIMITED if active else UNLIMITED_CONTROLLED
    new = Machine(state=state, since=at, limit=limit)
    facts = facts.with_machine(direction, new)
    more: list[Transition] = [Transition(direction=direction, machine=new)]
    # An active limit whose duration is already over ends at once.
    facts, expired = advance(facts, at)
    more.extend(expired)
    return facts, (*transitions, *more)


def check_failsafe_duration(duration_s: float) -> float:
    if not isinstance(duration_s, int | float) or isinstance(duration_s, bool) or not math.isfinite(duration_s):
        raise Rejected(f"the failsafe duration must be a number of seconds, got {duration_s!r}")
    if not FAILSAFE_DURATION_MIN_S <= duration_s <= FAILSAFE_DURATION_MAX_S:
        raise Rejected(f"the failsafe duration must be between 2 h and 24 h, got {duration_s / 3600:g} h")
    return float(duration_s)


def check_failsafe_value(direction: str, value_w: float) -> float:
    if not isinstance(value_w, int | float) or isinstance(value_w, bool) or not math.isfinite(value_w):
        raise Rejected(f"the failsafe {_name(direction)} limit must be a number of watts, got {value_w!r}")
    if value_w < 0:
        raise Rejected(f"negative failsafe limit: the failsafe {_name(direction)} limit must be 0 W or more")
    if value_w > MAX_LIMIT_W:
        raise Rejected(f"the failsafe {_name(direction)} limit {value_w:g} W is out of range")
    return float(value_w)


def write_failsafe(facts: Facts, direction: str | None, value_w: float | None, duration_s: float | None) -> Facts:
    """New failsafe values (all checked first: one bad value changes nothing)."""
    consumption_w, production_w = facts.failsafe_consumption_w, facts.failsafe_production_w
    if value_w is not None:
        if direction not in DIRECTIONS:
            raise Rejected(f"a failsafe value needs a direction (consume or produce), got {direction!r}")
        if direction == CONSUME:
            consumption_w = check_failsafe_value(direction, value_w)
        else:
            production_w = check_failsafe_value(direction, value_w)
    duration = check_failsafe_duration(duration_s) if duration_s is not None else facts.failsafe_duration_s
    return dataclasses.replace(
        facts, failsafe_consumption_w=consumption_w, failsafe_production_w=production_w, failsafe_duration_s=duration
    )


def restart(facts: Facts, at: dt.datetime) -> tuple[Facts, tuple[Transition, ...]]:
    """The controllable system (re)started: both directions in ``init``, limited to the
    failsafe values; the reported limits deactivated (their values kept)."""
    transitions: list[Transition] = []
    for direction in DIRECTIONS:
        m = facts.machine(direction)
        limit = dataclasses.replace(m.limit, active=False) if m.limit is not None else None
        new = Machine(state=INIT, since=at, limit=limit)
        facts = facts.with_machine(direction, new)
        transitions.append(Transition(direction=direction, machine=new))
    return facts, tuple(transitions)


# --- what is in force ------------------------------------------------------------------------


def limit_in_force(facts: Facts, direction: str, machine: Machine | None = None) -> float | None:
    """The limit the plant must keep in a direction (W), or ``None`` when it is unlimited."""
    m = machine or facts.machine(direction)
    if m.state in (INIT, FAILSAFE):
        return facts.failsafe_w(direction)
    if m.state == LIMITED and m.limit is not None:
        return m.limit.value_w
    return None


def kind_of(state: str) -> str:
    """The history's kind of a state: unlimited, limited, or limited with the failsafe value."""
    if state in (INIT, FAILSAFE):
        return FAILSAFE_KIND
    return LIMITED_KIND if state == LIMITED else UNLIMITED


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectionStatus:
    """One direction as the pages and the snapshot show it."""

    state: str
    since: dt.datetime
    limit_w: float | None = None
    # When the state ends by itself if nothing else happens (a limit's end, the failsafe's end).
    until: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GridLimitStatus:
    """The grid operator's limits in force this cycle (published with the snapshot)."""

    consume: DirectionStatus
    produce: DirectionStatus
    failsafe_consumption_w: float = DEFAULT_FAILSAFE_W
    failsafe_production_w: float = DEFAULT_FAILSAFE_W
    failsafe_duration_s: float = DEFAULT_FAILSAFE_DURATION_S
    heartbeat_at: dt.datetime | None = None

    @property
    def failsafe(self) -> bool:
        """Limited with failsafe values ("power limitation is active with failsafe values")."""
        return FAILSAFE in (self.consume.state, self.produce.state) or INIT in (self.consume.state, self.produce.state)

    @property
    def lpc_w(self) -> float | None:
        return self.consume.limit_w

    @property
    def lpp_w(self) -> float | None:
        return self.produce.limit_w


def status(facts: Facts, now: dt.datetime) -> GridLimitStatus:
    """The state and the limits in force at ``now``."""
    facts, _ = advance(facts, now)

    def one(direction: str) -> DirectionStatus:
        m = facts.machine(direction)
        return DirectionStatus(
            state=m.state,
            since=m.since,
            limit_w=limit_in_force(facts, direction),
            until=next_change(facts, direction),
        )

    return GridLimitStatus(
        consume=one(CONSUME),
        produce=one(PRODUCE),
        failsafe_consumption_w=facts.failsafe_consumption_w,
        failsafe_production_w=facts.failsafe_production_w,
        failsafe_duration_s=facts.failsafe_duration_s,
        heartbeat_at=facts.last_heartbeat_at,
    )


def _name(direction: str) -> str:
    return "consumption" if direction == CONSUME else "production"
