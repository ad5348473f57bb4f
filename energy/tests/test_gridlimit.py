"""The LPC/LPP state machine: a table of event scripts with the state and the limit in force
afterwards, the write approval rules, and properties over random event sequences."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy import gridlimit as g
from energy import gridlimit_history as gh

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def run(script: list[tuple], facts: g.Facts | None = None) -> gh.LimitStore:
    """Events as (second, kind, args...): hb, lpc (active, value, duration), lpp (...), restart."""
    store = gh.LimitStore(facts or g.initial(T0))
    for event in script:
        second, kind, *args = event
        if kind == "hb":
            store.heartbeat(at(second))
        elif kind in ("lpc", "lpp"):
            direction = g.CONSUME if kind == "lpc" else g.PRODUCE
            active, value, duration = args
            store.write_limit(direction, active=active, value_w=value, duration_s=duration, at=at(second))
        elif kind == "restart":
            store.restart(at(second))
    return store


HB_EVERY_10 = [(s, "hb") for s in range(0, 3600, 10)]


def beats(start: int, stop: int, every: int = 10) -> list[tuple]:
    return [(s, "hb") for s in range(start, stop, every)]


# (name, script, time asked, LPC state then, LPC limit then)
CASES = [
    ("fresh start: init, limited to the failsafe value", [], 0, g.INIT, 10_000.0),
    ("no heartbeat for 119 s: still init", [], 119, g.INIT, 10_000.0),
    ("no heartbeat within 120 s: failsafe", [], 120, g.FAILSAFE, 10_000.0),
    ("failsafe lasts the failsafe duration", [], 120 + 7199, g.FAILSAFE, 10_000.0),
    ("then unlimited/autonomous", [], 120 + 7200, g.UNLIMITED_AUTONOMOUS, None),
    ("heartbeat but no write within 120 s: autonomous", beats(5, 400), 125, g.UNLIMITED_AUTONOMOUS, None),
    ("heartbeat, then 119 s without a write: init", beats(5, 400), 124, g.INIT, 10_000.0),
    ("heartbeat and a following write: limited", [(5, "hb"), (6, "lpc", True, 4200.0, 900.0)], 7, g.LIMITED, 4200.0),
    (
        "an inactive write: unlimited/controlled",
        [(5, "hb"), (6, "lpc", False, 4200.0, None)],
        7,
        g.UNLIMITED_CONTROLLED,
        None,
    ),
    (
        "the limit ends on time",
        [*beats(0, 2000), (10, "lpc", True, 4200.0, 900.0)],
        909,
        g.LIMITED,
        4200.0,
    ),
    (
        "and then unlimited/controlled",
        [*beats(0, 2000), (10, "lpc", True, 4200.0, 900.0)],
        910,
        g.UNLIMITED_CONTROLLED,
        None,
    ),
    (
        "a limit without duration does not expire",
        [*beats(0, 3000), (10, "lpc", True, 4200.0, None)],
        2900,
        g.LIMITED,
        4200.0,
    ),
    (
        "heartbeat lost for 119 s while limited: still limited",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None)],
        100 + 119,
        g.LIMITED,
        4200.0,
    ),
    (
        "heartbeat lost for 120 s while limited: failsafe",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None)],
        100 + 120,
        g.FAILSAFE,
        10_000.0,
    ),
    (
        "heartbeat back in failsafe without a write: still failsafe",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None), *beats(300, 1000)],
        900,
        g.FAILSAFE,
        10_000.0,
    ),
    (
        "heartbeat back and a new limit: failsafe ends at once",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None), *beats(300, 1000), (305, "lpc", True, 5000.0, 900.0)],
        306,
        g.LIMITED,
        5000.0,
    ),
    (
        "heartbeat back near the failsafe end: 120 s to write before going unlimited",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None), *beats(220 + 7100, 220 + 7400)],
        220 + 7200 + 10,
        g.FAILSAFE,
        10_000.0,
    ),
    (
        "... and then unlimited/autonomous",
        [*beats(0, 101), (10, "lpc", True, 4200.0, None), *beats(220 + 7100, 220 + 7400)],
        220 + 7100 + 120,
        g.UNLIMITED_AUTONOMOUS,
        None,
    ),
    (
        "autonomous, heartbeat, then a write: controlled again",
        [*beats(5, 400), (300, "lpc", True, 3000.0, None)],
        301,
        g.LIMITED,
        3000.0,
    ),
    (
        "restart during a limit: init, limited to the failsafe value",
        [*beats(0, 500), (10, "lpc", True, 4200.0, None), (400, "restart")],
        401,
        g.INIT,
        10_000.0,
    ),
]


@pytest.mark.parametrize(("name", "script", "second", "state", "limit"), CASES, ids=[c[0] for c in CASES])
def test_lpc_state_table(name: str, script: list[tuple], second: float, state: str, limit: float | None) -> None:
    store = run([e for e in sorted(script, key=lambda e: e[0]) if e[0] <= second])
    now = store.status(at(second))
    assert (now.consume.state, now.lpc_w) == (state, limit)


def test_lpp_is_a_machine_of_its_own_sharing_the_heartbeat() -> None:
    script = [*beats(0, 1000), (10, "lpp", True, 3000.0, 900.0)]
    store = run(sorted((e for e in script if e[0] <= 20), key=lambda e: e[0]))
    now = store.status(at(20))
    assert (now.produce.state, now.lpp_w) == (g.LIMITED, 3000.0)
    # LPC had the heartbeat but no write: autonomous after 120 s.
    assert now.consume.state == g.INIT
    store = run(sorted(script, key=lambda e: e[0]))
    assert store.status(at(995)).consume.state == g.UNLIMITED_AUTONOMOUS
    assert store.status(at(995)).produce.state == g.UNLIMITED_CONTROLLED


def test_failsafe_applies_the_stored_failsafe_values() -> None:
    facts = g.initial(T0, failsafe_consumption_w=4200.0, failsafe_production_w=6000.0)
    now = g.status(facts, at(200))
    assert (now.consume.state, now.lpc_w, now.lpp_w, now.failsafe) == (g.FAILSAFE, 4200.0, 6000.0, True)


def test_a_timer_fires_at_its_own_time_however_late_asked() -> None:
    store = run([*beats(0, 101), (10, "lpc", True, 4200.0, None)])
    store.settle(at(50_000))
    kinds = [(e.kind, e.valid_from, e.valid_to) for e in store.history.entries if e.direction == g.CONSUME]
    assert kinds == [
        (g.FAILSAFE_KIND, at(0), at(10)),
        (g.LIMITED_KIND, at(10), at(220)),
        (g.FAILSAFE_KIND, at(220), at(220 + 7200)),
        (g.UNLIMITED, at(220 + 7200), None),
    ]


# --- write approval ----------------------------------------------------------------------------

REJECTIONS = [
    ("negative LPC", lambda f: g.write_limit(f, g.CONSUME, active=True, value_w=-1.0, duration_s=None, at=at(6))),
    ("NaN", lambda f: g.write_limit(f, g.CONSUME, active=True, value_w=float("nan"), duration_s=None, at=at(6))),
    ("negative duration", lambda f: g.write_limit(f, g.PRODUCE, active=True, value_w=1.0, duration_s=-5, at=at(6))),
    ("unknown direction", lambda f: g.write_limit(f, "both", active=True, value_w=1.0, duration_s=None, at=at(6))),
    ("failsafe duration 1 h", lambda f: g.write_failsafe(f, None, None, 3600.0)),
    ("failsafe duration 25 h", lambda f: g.write_failsafe(f, None, None, 25 * 3600.0)),
    ("negative failsafe", lambda f: g.write_failsafe(f, g.CONSUME, -10.0, None)),
    ("failsafe value without direction", lambda f: g.write_failsafe(f, None, 4000.0, None)),
    ("good value, bad duration: nothing", lambda f: g.write_failsafe(f, g.CONSUME, 4000.0, 60.0)),
]


@pytest.mark.parametrize(("name", "write"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejected_writes_change_nothing(name: str, write: object) -> None:
    facts, _ = g.heartbeat(g.initial(T0), at(5))
    with pytest.raises(g.Rejected) as refused:
        write(facts)  # type: ignore[operator]
    assert refused.value.reason
    assert g.status(facts, at(6)).consume.state == g.INIT


def test_spine_signs() -> None:
    assert g.magnitude_from_spine(g.CONSUME, 4200) == 4200.0
    assert g.magnitude_from_spine(g.PRODUCE, -3000) == 3000.0
    assert g.magnitude_from_spine(g.PRODUCE, 0) == 0.0
    with pytest.raises(g.Rejected, match="negative limit"):
        g.magnitude_from_spine(g.CONSUME, -1)
    with pytest.raises(g.Rejected, match="positive limit"):
        g.magnitude_from_spine(g.PRODUCE, 1)


def test_a_write_before_any_heartbeat_is_refused() -> None:
    with pytest.raises(g.Rejected, match="no heartbeat"):
        g.write_limit(g.initial(T0), g.CONSUME, active=True, value_w=4200.0, duration_s=None, at=at(3))


def test_failsafe_duration_bounds_accepted() -> None:
    facts = g.write_failsafe(g.initial(T0), g.PRODUCE, 6000.0, 2 * 3600.0)
    facts = g.write_failsafe(facts, None, None, 24 * 3600.0)
    assert (facts.failsafe_production_w, facts.failsafe_duration_s) == (6000.0, 86_400.0)


# --- properties --------------------------------------------------------------------------------

event = st.one_of(
    st.tuples(st.just("hb")),
    st.tuples(st.just("lpc"), st.booleans(), st.floats(-100, 20_000), st.none() | st.floats(0, 5000)),
    st.tuples(st.just("lpp"), st.booleans(), st.floats(-100, 20_000), st.none() | st.floats(0, 5000)),
    st.tuples(st.just("restart")),
)
script_st = st.lists(st.tuples(st.integers(1, 400), event), max_size=40)


def _play(script: list[tuple[int, tuple]]) -> tuple[gh.LimitStore, list[float]]:
    store = gh.LimitStore(g.initial(T0))
    second = 0.0
    times = []
    for gap, ev in script:
        second += gap
        times.append(second)
        try:
            kind = ev[0]
            if kind == "hb":
                store.heartbeat(at(second))
            elif kind == "restart":
                store.restart(at(second))
            else:
                direction = g.CONSUME if kind == "lpc" else g.PRODUCE
                store.write_limit(direction, active=ev[1], value_w=ev[2], duration_s=ev[3], at=at(second))
        except g.Rejected:
            pass
    return store, times


@settings(max_examples=150, deadline=None)
@given(script_st, st.integers(0, 20_000))
def test_never_failsafe_before_120_s_without_heartbeat(script: list[tuple[int, tuple]], later: int) -> None:
    store, times = _play(script)
    end = (times[-1] if times else 0.0) + later
    now = store.status(at(end))
    last = store.facts.last_heartbeat_at
    for d in (now.consume, now.produce):
        if d.state == g.FAILSAFE and last is not None and d.since > last:
            # Entered failsafe after the last heartbeat: exactly 120 s after it.
            assert d.since >= last + dt.timedelta(seconds=g.HEARTBEAT_TIMEOUT_S)


@settings(max_examples=150, deadline=None)
@given(script_st, st.integers(0, 20_000))
def test_limits_in_force_are_never_negative_and_history_is_contiguous(
    script: list[tuple[int, tuple]], later: int
) -> None:
    store, times = _play(script)
    end = (times[-1] if times else 0.0) + later
    store.settle(at(end))
    now = store.status(at(end))
    for d in (now.consume, now.produce):
        assert d.state in g.STATES
        assert d.limit_w is None or d.limit_w >= 0
        assert (d.limit_w is None) == (d.state in (g.UNLIMITED_CONTROLLED, g.UNLIMITED_AUTONOMOUS))
    for direction in g.DIRECTIONS:
        entries = [e for e in store.history.entries if e.direction == direction]
        assert entries[-1].valid_to is None
        for a, b in itertools.pairwise(entries):
            assert a.valid_to == b.valid_from
            assert not gh.same_period(dataclasses_replace_to_none(a), b)


def dataclasses_replace_to_none(entry: gh.HistoryEntry) -> gh.HistoryEntry:
    import dataclasses

    return dataclasses.replace(entry, valid_to=None)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60))
def test_history_ring_never_grows_past_its_size(size: int) -> None:
    store = gh.LimitStore(g.initial(T0), history_size=size)
    store.heartbeat(at(1))
    for n in range(3 * size):
        store.heartbeat(at(2 + n))
        store.write_limit(g.CONSUME, active=n % 2 == 0, value_w=1000.0 + n, duration_s=None, at=at(2 + n))
    assert len(store.history.entries) == size
    assert store.history.entries[-1].valid_from == at(2 + 3 * size - 1)
