"""The grid-optimised battery planner (issue 19 part 2): table-driven cases and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy import batteryplan as bp
from energy.forecast import SLOT_S, Slot

DAY = dt.datetime(2026, 6, 21, 0, 0, tzinfo=dt.UTC)


def bell_day(peak_w: float, load_w: float = 400.0) -> tuple[Slot, ...]:
    """A clear day in UTC slots: PV a triangle from 04:00 to 20:00 UTC peaking at noon."""
    out = []
    for n in range(96):
        hour = n / 4
        pv = max(0.0, 1 - abs(hour - 12.0) / 8.0) * peak_w
        out.append(Slot(DAY + dt.timedelta(seconds=n * SLOT_S), pv, load_w))
    return tuple(out)


def run(now_h: float, soc: float, slots: tuple[Slot, ...], *, limit_w: float = 6000.0, ratio: float = 1.0) -> bp.Plan:
    return bp.plan(
        now=DAY + dt.timedelta(hours=now_h),
        slots=slots,
        soc_pct=soc,
        capacity_wh=10_000.0,
        max_charge_w=4600.0,
        min_soc_pct=5.0,
        max_soc_pct=100.0,
        limit_w=limit_w,
        deadline=DAY + dt.timedelta(hours=14),
        pv_ratio=ratio,
    )


@pytest.mark.parametrize(
    ("now_h", "soc", "peak_w", "ratio", "expect"),
    [
        # Sunny morning, big noon peak above 6 kW: hold back (nothing or little now), keep room.
        (7.0, 12.0, 10_000.0, 1.0, "hold"),
        # The same morning on a day going at a third of the forecast: the afternoon cannot fill it.
        (7.0, 12.0, 10_000.0, 0.15, "full"),
        # A dull forecast (no peak above the limit, little afternoon): charge from all surplus.
        (7.0, 12.0, 2_500.0, 1.0, "full"),
        # Past the deadline: today's strategy.
        (15.0, 50.0, 10_000.0, 1.0, "none"),
    ],
)
def test_plan_cases(now_h: float, soc: float, peak_w: float, ratio: float, expect: str) -> None:
    slots = bell_day(peak_w)
    plan = run(now_h, soc, slots, ratio=ratio)
    surplus_now_w = slots[int(now_h * 4)].pv_w * ratio - 400.0
    if expect == "none":
        assert plan.allowed_w is None
    elif expect == "full":
        # Behind: the battery may take all the surplus there is now.
        assert plan.allowed_w is not None and plan.allowed_w >= surplus_now_w
    else:
        assert plan.allowed_w is not None and plan.allowed_w < 1000.0
        assert plan.room_wh > 1000.0
        assert "room" in plan.reason
        # Still full by the deadline as planned.
        assert plan.slots[-1].soc_pct == pytest.approx(100.0, abs=0.5)


def test_the_reason_names_the_room_kept() -> None:
    plan = run(7.0, 12.0, bell_day(10_000.0))
    assert f"keeping {plan.room_wh / 1000:.1f} kWh of room" in plan.reason


@pytest.mark.parametrize(
    ("zero_w", "allowed_w", "limit_w", "expect_w"),
    [
        (3000.0, 500.0, 6000.0, 500.0),  # surplus under the limit: only the plan's share
        (8000.0, 500.0, 6000.0, 8000.0 - 6000.0 + bp.LIMIT_MARGIN_W),  # the part above the limit always
        (300.0, 500.0, 6000.0, 300.0),  # never more than the surplus
        (-800.0, 0.0, 6000.0, -800.0),  # discharging as without the plan
        (3000.0, None, 6000.0, 3000.0),  # no plan: all surplus
    ],
)
def test_setpoint_cases(zero_w: float, allowed_w: float | None, limit_w: float, expect_w: float) -> None:
    assert bp.setpoint_w(zero_w, allowed_w, limit_w) == pytest.approx(expect_w)


powers = st.floats(min_value=-20_000.0, max_value=20_000.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(zero_w=powers, allowed=st.one_of(st.none(), st.floats(0.0, 10_000.0)), limit_w=st.floats(0.0, 30_000.0))
def test_setpoint_properties(zero_w: float, allowed: float | None, limit_w: float) -> None:
    got = bp.setpoint_w(zero_w, allowed, limit_w)
    # Never from the grid because of the plan: never more charge than the surplus.
    assert got <= max(zero_w, 0.0) + 1e-9
    # Never above the feed-in limit because of the plan: what is left to feed in is at most the limit.
    if zero_w > 0:
        assert zero_w - got <= limit_w + 1e-6
    # Never below the minimum SoC because of the plan: it never discharges more than zero exchange asks.
    assert got >= min(zero_w, 0.0) - 1e-9


@settings(max_examples=80, deadline=None)
@given(
    pv=st.lists(st.floats(0.0, 12_000.0), min_size=96, max_size=96),
    load=st.floats(0.0, 3000.0),
    soc=st.floats(0.0, 100.0),
    now_h=st.floats(0.0, 20.0),
    limit_w=st.floats(0.0, 12_000.0),
    ratio=st.floats(0.0, 2.0),
)
def test_plan_properties(pv: list[float], load: float, soc: float, now_h: float, limit_w: float, ratio: float) -> None:
    slots = tuple(Slot(DAY + dt.timedelta(seconds=n * SLOT_S), w, load) for n, w in enumerate(pv))
    plan = run(now_h, soc, slots, limit_w=limit_w, ratio=ratio)
    if plan.allowed_w is not None:
        assert 0.0 <= plan.allowed_w <= 4600.0
    previous = soc
    for slot in plan.slots:
        # Charges only: the planned SoC never falls, so never under the minimum it started above.
        assert slot.charge_w >= -1e-9
        assert slot.soc_pct >= previous - 1e-9
        assert slot.soc_pct <= 100.0 + 1e-6
        previous = slot.soc_pct


@settings(max_examples=25, deadline=None)
@given(peak=st.floats(3000.0, 12_000.0), reality=st.floats(0.2, 1.0), load=st.floats(100.0, 1500.0))
def test_a_day_under_the_plan_never_curtails_more_and_ends_full_when_all_surplus_would(
    peak: float, reality: float, load: float
) -> None:
    """A whole day in 15-minute steps, re-planned each slot from the SoC it reached, the day
    delivering ``reality`` of the forecast (the controller's measured ratio): against charging from
    all surplus, the plan curtails no more and, where all surplus fills the battery by the
    deadline, ends the day within the stated margin of it."""
    forecast = bell_day(peak, load)
    capacity, limit_w = 10_000.0, 6000.0

    def day(planned: bool) -> tuple[float, float, float]:
        soc_wh, curtailed, at_deadline = 1200.0, 0.0, 0.0
        for n, slot in enumerate(forecast):
            surplus = max(0.0, slot.pv_w * reality - load)
            allowed = run(n / 4, soc_wh / capacity * 100, forecast, ratio=reality).allowed_w if planned else None
            charge = bp.setpoint_w(surplus, allowed, limit_w) if surplus > 0 else 0.0
            charge = min(charge, 4600.0, (capacity - soc_wh) / 0.25)
            soc_wh += charge * 0.25
            curtailed += max(0.0, surplus - charge - limit_w) * 0.25
            if n == 14 * 4 - 1:
                at_deadline = soc_wh
        return soc_wh, curtailed, at_deadline

    on_soc, on_curtailed, _ = day(True)
    off_soc, off_curtailed, off_deadline = day(False)
    assert on_curtailed <= off_curtailed + 1e-6
    if off_deadline >= capacity - 1:
        assert on_soc >= off_soc - bp.END_SOC_MARGIN_PCT / 100 * capacity
