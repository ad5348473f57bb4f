"""Grid-optimised battery charging (issue 19 part 2): how much the house battery may charge now. Pure.

With a feed-in limit, a battery that charges from all surplus in the morning is full by ten, and
at noon the inverters are curtailed. The plan charges only what the afternoon will not bring and
keeps room for what the forecast puts above the limit, while still reaching the maximum SoC by a
deadline (16:00 local by default, the installer can move it):

1. For every 15-minute slot from now to the deadline the forecast gives PV and house load, PV
   scaled by how the day is going so far (``pv_ratio``, measured by the controller). Surplus is
   PV minus load; what of it lies above the feed-in limit the battery *must* take
   (``forced``), up to its charge power; what it *can* take is the surplus up to that power.
2. The forced charges are planned first. What the battery still needs to reach the maximum SoC
   beyond them is placed as late as possible, counting each later slot's spare surplus at
   ``SAFETY`` (70 %) only, so a forecast that is a third too high still fills the battery.
3. Whatever the later slots cannot bring is charged now: the allowed charge power of this cycle.
   The plan is made again every cycle from the measured SoC, so a shortfall (a cloudier day than
   forecast) moves into the present as soon as it shows.

:func:`setpoint_w` turns the allowed power into the battery's setpoint: never more than the
surplus (the plan never charges from the grid), always at least what lies above the feed-in
limit (the plan never pushes feed-in over it), discharging exactly as without the plan (the plan
never takes the battery below its minimum SoC).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from energy.forecast import SLOT_S, Slot

# Later slots' spare surplus counts at this share when placing the charge late.
SAFETY = 0.7
# The battery aims feed-in this far under the limit, inside the feed-in limitation's own margin.
LIMIT_MARGIN_W = 60.0
# The margin stated for the end of a day: a battery under this plan ends a day at most this many
# SoC points below what charging from all surplus would have left (docs/battery.md).
END_SOC_MARGIN_PCT = 5.0
DEFAULT_DEADLINE = dt.time(16, 0)


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    start: dt.datetime  # UTC
    charge_w: float  # planned average charge over the slot
    soc_pct: float  # expected SoC at the slot's end


@dataclass(frozen=True, slots=True)
class Plan:
    # The most the battery may charge now from surplus below the feed-in limit; ``None`` = no
    # restriction (charge from all surplus, today's strategy).
    allowed_w: float | None
    room_wh: float  # the room kept for what the forecast puts above the limit
    needed_wh: float  # what the battery lacks to the maximum SoC
    deadline: dt.datetime
    slots: tuple[PlannedSlot, ...]
    reason: str


def deadline_at(now: dt.datetime, local_time: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """Today's deadline (local) as UTC."""
    day = now.astimezone(zone).date()
    return dt.datetime.combine(day, local_time, tzinfo=zone).astimezone(dt.UTC)


def plan(
    *,
    now: dt.datetime,
    slots: Sequence[Slot],
    soc_pct: float,
    capacity_wh: float,
    max_charge_w: float,
    min_soc_pct: float,
    max_soc_pct: float,
    limit_w: float,
    deadline: dt.datetime,
    pv_ratio: float = 1.0,
) -> Plan:
    """The plan from ``now`` to ``deadline``; ``slots`` the forecast (any range, 15-minute slots)."""
    if capacity_wh <= 0 or max_charge_w <= 0:
        return Plan(None, 0.0, 0.0, deadline, (), "no battery capacity")
    soc_pct = min(max(soc_pct, 0.0), 100.0)
    needed_wh = max(0.0, (max_soc_pct - soc_pct) / 100.0 * capacity_wh)
    if now >= deadline:
        return Plan(None, 0.0, needed_wh, deadline, (), "past the deadline: charging from all surplus")
    ratio = min(max(pv_ratio, 0.0), 1.3) if math.isfinite(pv_ratio) else 1.0
    ahead: list[tuple[dt.datetime, float, float, float]] = []  # (start, hours, forced W, available W)
    for slot in slots:
        start = slot.start
        end = start + dt.timedelta(seconds=SLOT_S)
        begin, finish = max(start, now), min(end, deadline)
        if finish <= begin:
            continue
        hours = (finish - begin).total_seconds() / 3600.0
        surplus_w = max(0.0, slot.pv_w * ratio - slot.load_w)
        forced_w = min(max_charge_w, max(0.0, surplus_w - limit_w))
        ahead.append((start, hours, forced_w, min(max_charge_w, surplus_w)))
    if not ahead or ahead[0][0] > now:
        return Plan(None, 0.0, needed_wh, deadline, (), "no forecast for now: charging from all surplus")
    forced_wh = sum(hours * forced for _, hours, forced, _ in ahead)
    extra_wh = [0.0] * len(ahead)
    rest_wh = max(0.0, needed_wh - forced_wh)
    for i in range(len(ahead) - 1, 0, -1):  # as late as possible, the current slot last
        _, hours, forced, available = ahead[i]
        take = min(rest_wh, max(0.0, available - forced) * hours * SAFETY)
        extra_wh[i] = take
        rest_wh -= take
    now_hours = ahead[0][1]
    extra_wh[0] = rest_wh
    allowed_w = min(max_charge_w, ahead[0][2] + rest_wh / now_hours) if now_hours > 0 else max_charge_w
    planned: list[PlannedSlot] = []
    soc_wh = soc_pct / 100.0 * capacity_wh
    top_wh = max_soc_pct / 100.0 * capacity_wh
    for (start, hours, forced, available), extra in zip(ahead, extra_wh, strict=True):
        charge_wh = min(forced * hours + extra, available * hours, max(0.0, top_wh - soc_wh))
        charge_wh = max(charge_wh, 0.0)
        soc_wh += charge_wh
        planned.append(PlannedSlot(start, charge_wh / hours if hours > 0 else 0.0, soc_wh / capacity_wh * 100.0))
    room_wh = min(forced_wh, needed_wh)
    if needed_wh <= 0:
        reason = "battery at its maximum SoC"
    elif rest_wh > 0 and allowed_w >= max_charge_w:
        reason = "the forecast brings too little later: charging from all surplus"
    elif room_wh > 0:
        reason = f"keeping {room_wh / 1000.0:.1f} kWh of room for the noon peak above the feed-in limit"
    else:
        reason = "the afternoon brings enough: charging later"
    return Plan(allowed_w, room_wh, needed_wh, deadline, tuple(planned), reason)


def setpoint_w(zero_exchange_w: float, allowed_w: float | None, limit_w: float) -> float:
    """The battery's setpoint under the plan (charge +).

    ``zero_exchange_w`` is what the battery would do to bring the grid exchange to zero (today's
    strategy): positive = surplus to charge from, negative = consumption to cover. The plan only
    lowers charging, never below what keeps feed-in under ``limit_w``; it never discharges more.
    """
    if zero_exchange_w <= 0 or allowed_w is None:
        return zero_exchange_w
    above_limit_w = zero_exchange_w - max(0.0, limit_w - LIMIT_MARGIN_W)
    return min(zero_exchange_w, max(allowed_w, above_limit_w, 0.0))
