"""Energy totals since commissioning never decrease and survive meter resets (MET-1)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.counters import FIELDS, CounterState, advance, named_counters, phase_totals_of, totals_of
from energy.state import EnergyCounters

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def raw(import_wh: float, export_wh: float = 0.0) -> EnergyCounters:
    return EnergyCounters(active_import_wh=import_wh, active_export_wh=export_wh)


def run(readings: list[EnergyCounters], step_s: float = 1.0) -> list[EnergyCounters]:
    state, totals = CounterState(), []
    for i, reading in enumerate(readings):
        update = advance(state, reading.as_dict(), T0 + dt.timedelta(seconds=i * step_s))
        state = update.state
        totals.append(update.totals)
    return totals


@pytest.mark.parametrize(
    ("meter_import_wh", "expected_total_wh"),
    [
        pytest.param([5000.0, 5001.0, 5003.5], [0.0, 1.0, 3.5], id="counts from commissioning"),
        pytest.param([5000.0, 5002.0, 0.0, 1.0], [0.0, 2.0, 2.0, 3.0], id="meter reset to zero"),
        pytest.param([5000.0, 5002.0, 700.0, 705.0], [0.0, 2.0, 2.0, 7.0], id="meter replaced"),
        pytest.param([5000.0, 5001.0, 9e9, 9e9 + 1], [0.0, 1.0, 1.0, 2.0], id="garbage jump is not energy"),
    ],
)
def test_totals_follow_the_meter_and_never_fall(meter_import_wh, expected_total_wh):
    totals = run([raw(v) for v in meter_import_wh])
    assert [t.active_import_wh for t in totals] == pytest.approx(expected_total_wh)


def test_a_long_outage_allows_a_large_but_plausible_step():
    state = advance(CounterState(), raw(1000.0).as_dict(), T0).state
    # 10 h at 20 kW while the product was down: real energy, counted.
    update = advance(state, raw(201_000.0).as_dict(), T0 + dt.timedelta(hours=10))
    assert update.totals.active_import_wh == pytest.approx(200_000.0)
    assert update.rebased == ()


def test_state_restored_from_storage_continues_totals():
    first = advance(CounterState(), raw(100.0, 50.0).as_dict(), T0)
    second = advance(first.state, raw(110.0, 55.0).as_dict(), T0 + dt.timedelta(seconds=1))
    restored = CounterState(dict(second.state.offsets), dict(second.state.last_raw), second.state.last_raw_at)
    after_restart = advance(restored, raw(130.0, 60.0).as_dict(), T0 + dt.timedelta(minutes=5))
    assert after_restart.totals.active_import_wh == pytest.approx(30.0)
    assert after_restart.totals.active_export_wh == pytest.approx(10.0)
    assert totals_of(after_restart.state) == after_restart.totals


@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=40))
def test_totals_never_decrease_whatever_the_meter_says(meter_values):
    totals = run([EnergyCounters(**dict.fromkeys(FIELDS, v)) for v in meter_values])
    for field in FIELDS:
        series = [getattr(t, field) for t in totals]
        assert all(b >= a - 1e-6 for a, b in itertools.pairwise(series))
        assert series[0] == 0.0


def test_phase_counters_are_named_and_kept_monotonic_like_the_totals():
    phases = (raw(10.0), raw(20.0), raw(30.0))
    names = named_counters(raw(60.0), phases)
    assert names["active_import_wh"] == 60.0
    assert names["l3.active_import_wh"] == 30.0
    assert len(names) == 4 * len(FIELDS)

    state = advance(CounterState(), names, T0).state
    # L2's counter is reset (a meter swap that kept the others): its total continues, the rest count on.
    later = named_counters(raw(66.0), (raw(12.0), raw(0.5), raw(33.0)))
    update = advance(state, later, T0 + dt.timedelta(seconds=1))
    l1, l2, l3 = update.phase_totals
    assert (l1.active_import_wh, l2.active_import_wh, l3.active_import_wh) == (2.0, 0.0, 3.0)
    assert update.rebased == ("l2.active_import_wh",)
    assert phase_totals_of(update.state) == update.phase_totals


def test_counters_new_to_stored_state_start_at_zero_without_disturbing_the_others():
    """A stored state from before per-phase counters existed: the totals carry on."""
    old = advance(CounterState(), raw(1000.0).as_dict(), T0).state
    update = advance(
        old, named_counters(raw(1005.0), (raw(400.0), raw(300.0), raw(305.0))), T0 + dt.timedelta(seconds=1)
    )
    assert update.totals.active_import_wh == pytest.approx(5.0)
    assert all(p.active_import_wh == 0.0 for p in update.phase_totals)


@pytest.mark.parametrize(
    ("published_import_wh", "published_at_s", "meter_next_wh", "expected"),
    [
        # Stored at 100 Wh (raw 1100); the snapshot showed 130 Wh later: 130 until the meter answers, then on.
        pytest.param(130.0, 60, 1140.0, (130.0, 140.0), id="snapshot ahead of the store"),
        # A snapshot behind the store or older than it changes nothing.
        pytest.param(90.0, 60, 1140.0, (100.0, 140.0), id="snapshot behind"),
        pytest.param(130.0, -60, 1140.0, (100.0, 140.0), id="snapshot older than the store"),
        # The meter was replaced meanwhile (it counts from 5): totals go on from the snapshot's.
        pytest.param(130.0, 60, 5.0, (130.0, 130.0), id="meter replaced meanwhile"),
    ],
)
def test_a_new_runtime_catches_up_with_the_last_published_totals(
    published_import_wh, published_at_s, meter_next_wh, expected
):
    from energy.counters import caught_up

    saved_at = T0 + dt.timedelta(hours=1)
    stored = advance(advance(CounterState(), raw(1000.0).as_dict(), T0).state, raw(1100.0).as_dict(), saved_at).state
    state = caught_up(
        stored, {"active_import_wh": published_import_wh}, saved_at + dt.timedelta(seconds=published_at_s)
    )
    after = advance(state, raw(meter_next_wh).as_dict(), saved_at + dt.timedelta(minutes=5))
    assert (totals_of(state).active_import_wh, after.totals.active_import_wh) == pytest.approx(expected)


def test_catching_up_leaves_counters_never_read_unknown():
    from energy.counters import caught_up

    stored = advance(CounterState(), raw(1000.0).as_dict(), T0).state
    state = caught_up(stored, {"active_import_wh": 5.0, "l1.active_import_wh": 3.0}, T0 + dt.timedelta(seconds=1))
    assert "l1.active_import_wh" not in state.last_raw and totals_of(state).active_import_wh == 5.0
