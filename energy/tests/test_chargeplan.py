"""The charging-plan planner (issue 19, part 3): table-driven cases and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy import chargeplan as cp

T0 = dt.datetime(2026, 1, 12, 17, 0, tzinfo=dt.UTC)  # 18:00 in Berlin


def night(cheap_from_h: int = 21, cheap_to_h: int = 5, dear: float = 0.35, cheap: float = 0.22) -> list[cp.SlotInput]:
    """13 hours of slots from T0: cheap between the two UTC hours."""
    slots = []
    for k in range(13 * 4):
        start = T0 + k * cp.SLOT
        hour = start.hour
        is_cheap = hour >= cheap_from_h or hour < cheap_to_h
        slots.append(cp.SlotInput(start, 0.0, cheap if is_cheap else dear))
    return slots


def test_the_night_plan_charges_the_latest_cheap_slots():
    departure = T0 + dt.timedelta(hours=13)
    plan = cp.plan(T0, departure, 20_000, 11_040, night())
    charged = [s for s in plan.slots if s.power_w > 0]
    assert plan.feasible
    assert plan.energy_wh == pytest.approx(20_000)
    assert all(s.price == 0.22 for s in charged)
    # late: the last cheap slot (04:45 UTC) is in the plan, nothing before 03:00 UTC
    assert charged[-1].start == dt.datetime(2026, 1, 13, 4, 45, tzinfo=dt.UTC)
    assert charged[0].start >= dt.datetime(2026, 1, 13, 3, 0, tzinfo=dt.UTC)
    assert plan.cost == pytest.approx(20 * 0.22)
    assert plan.solar_share_pct == 0
    assert cp.describe(plan, "Europe/Berlin").startswith("charging plan: 20.0 kWh by 07:00, cheap hours from 0")


def test_surplus_comes_first_then_the_cheapest():
    slots = [cp.SlotInput(T0 + k * cp.SLOT, 3000.0 if k < 4 else 0.0, 0.30 + 0.01 * k) for k in range(8)]
    plan = cp.plan(T0, T0 + 2 * dt.timedelta(hours=1), 4000, 4000, slots, min_power_w=1400)
    assert [round(s.solar_w) for s in plan.slots[:4]] == [3000] * 4
    assert plan.solar_wh == pytest.approx(3000)
    grid = [s for s in plan.slots if s.grid_w > 0]
    assert grid and grid[0].start == T0  # the cheapest slot with room (room 1 kW next to the surplus)
    assert plan.energy_wh >= 4000


def test_surplus_below_the_minimum_power_is_not_counted():
    slots = [cp.SlotInput(T0 + k * cp.SLOT, 1000.0, 0.30) for k in range(8)]
    plan = cp.plan(T0, T0 + dt.timedelta(hours=2), 1000, 4000, slots, min_power_w=1400)
    assert plan.solar_wh == 0


def test_behind_charges_every_slot_now():
    plan = cp.plan(T0, T0 + dt.timedelta(hours=1), 20_000, 11_000, night())
    assert not plan.feasible
    assert all(s.power_w == 11_000 for s in plan.slots)
    assert cp.describe(plan, "UTC").endswith("behind: charging now")


def test_unknown_prices_come_last():
    slots = [cp.SlotInput(T0 + k * cp.SLOT, 0.0, None if k % 2 else 0.5) for k in range(8)]
    plan = cp.plan(T0, T0 + dt.timedelta(hours=2), 4000, 4000, slots)
    assert all(s.price == 0.5 for s in plan.slots if s.power_w > 0)


def test_bad_power_is_refused():
    with pytest.raises(ValueError, match="max_power_w"):
        cp.plan(T0, T0 + dt.timedelta(hours=2), 4000, 0.0)


def test_weekly_departure_is_the_next_one():
    settings_ = cp.PlanSettings(target_wh=10_000, weekdays=(0, 2), time=dt.time(7, 0), time_zone="Europe/Berlin")
    # Monday 12 Jan 2026 18:00 Berlin: next is Wednesday 07:00
    assert settings_.next_departure(T0) == dt.datetime(2026, 1, 14, 6, 0, tzinfo=dt.UTC)
    one_off = cp.PlanSettings(target_wh=10_000, departure=T0)
    assert one_off.next_departure(T0) is None  # past (or now): no plan in force


prices = st.one_of(st.none(), st.floats(min_value=-0.2, max_value=1.0, allow_nan=False))


@st.composite
def cases(draw):
    now = T0 + dt.timedelta(seconds=draw(st.integers(0, 899)))
    hours = draw(st.floats(min_value=0.1, max_value=20))
    departure = now + dt.timedelta(hours=hours)
    n = int(hours * 4) + 2
    slots = [
        cp.SlotInput(
            cp.slot_floor(now) + k * cp.SLOT,
            draw(st.sampled_from([0.0, 0.0, 500.0, 2000.0, 8000.0])),
            draw(prices),
        )
        for k in range(n)
    ]
    max_w = draw(st.sampled_from([1380.0, 3680.0, 4140.0, 7360.0, 11040.0, 22080.0]))
    min_w = draw(st.sampled_from([0.0, 1380.0, 4140.0]))
    needed = draw(st.floats(min_value=0, max_value=80_000))
    return now, departure, needed, max_w, min_w, slots


@settings(max_examples=150, deadline=None)
@given(cases())
def test_properties(case):
    now, departure, needed, max_w, min_w, slots = case
    plan = cp.plan(now, departure, needed, max_w, slots, min_power_w=min_w)
    capacity = sum((b - a).total_seconds() / 3600 * max_w for a, b in cp.window(now, departure))
    # feasible exactly when the slots to the departure can hold it; then the plan holds enough
    assert plan.feasible == (needed <= capacity + 1e-6)
    if plan.feasible:
        assert plan.energy_wh >= needed - 1e-6
    # never after the departure, never before now, never above the maximum power
    for s in plan.slots:
        assert now <= s.start < s.end <= departure
        assert -1e-9 <= s.power_w <= max_w + 1e-6
        assert s.solar_w <= s.power_w + 1e-9
    # the grid slots chosen are the cheapest available: no slot left with room is cheaper
    if plan.feasible:
        used = [s for s in plan.slots if s.grid_w > 1e-9]
        free = [s for s in plan.slots if s.power_w < max_w - 1e-6]
        for u in used:
            for f in free:
                if u is f:
                    continue
                if u.price is None:
                    assert f.price is None
                elif f.price is not None:
                    assert u.price <= f.price + 1e-12
