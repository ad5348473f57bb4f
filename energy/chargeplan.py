"""Charging plans for cars (issue 19, part 3): which 15-minute slots charge a car, and how hard.

Pure: no Django, no I/O, no clock. The wallbox controller (:mod:`wallbox.modes`) plans again in
every cycle from the energy the car has actually taken, so a car that charges slower than planned,
a forecast that was wrong or a price that changed are taken up at once.

The rules, in order:

1. **Forecast surplus first.** A slot whose forecast PV surplus (PV less the house) reaches the
   car's minimum charging power is solar energy the car gets for free; it is counted up to the
   car's maximum power, the slots with the most surplus first.
2. **The cheapest slots for the rest**, whole slots at the car's maximum power, the cheapest
   first; among slots of the same price the **latest** first (the car starts as late as the
   price allows, evcc's "late charging"). A slot without a known price counts as dearer than any
   priced slot.
3. **Never miss the target:** when all slots up to the departure at the car's maximum power are
   not enough, every slot charges at full power (the plan is "behind": charge now).

Prices are per kWh in the tariff's currency (floats: planning compares, the cost is an estimate).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SLOT_S = 900  # 15 minutes, the forecast's slot
SLOT = dt.timedelta(seconds=SLOT_S)
# At most this far ahead (the forecast's horizon).
HORIZON = dt.timedelta(hours=36)
# Slots are picked for this much more than needed: a car that takes less than its maximum power
# (the fuse, a car that tapers) still reaches the target. Charging stops at the target itself.
RESERVE = 0.1

SOLAR = "solar"
GRID = "grid"


@dataclass(frozen=True, slots=True)
class SlotInput:
    """What the plant expects of one 15-minute slot: the forecast PV surplus (W, 0 or more) and
    the purchase price per kWh (``None`` where the tariff has none)."""

    start: dt.datetime
    surplus_w: float = 0.0
    price: float | None = None


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    start: dt.datetime
    end: dt.datetime
    power_w: float  # planned charging power (solar + grid)
    solar_w: float  # of it from the forecast surplus
    price: float | None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def grid_w(self) -> float:
        return max(0.0, self.power_w - self.solar_w)

    @property
    def energy_wh(self) -> float:
        return self.power_w * self.hours

    @property
    def kind(self) -> str:
        if self.power_w <= 0:
            return ""
        return GRID if self.grid_w > 0 else SOLAR


@dataclass(frozen=True, slots=True)
class Plan:
    """Every slot from now to the departure, planned or not (``power_w`` 0)."""

    now: dt.datetime
    departure: dt.datetime
    needed_wh: float
    max_power_w: float
    slots: tuple[PlannedSlot, ...] = field(default=())
    feasible: bool = True

    @property
    def energy_wh(self) -> float:
        return sum(s.energy_wh for s in self.slots)

    @property
    def solar_wh(self) -> float:
        return sum(s.solar_w * s.hours for s in self.slots)

    @property
    def solar_share_pct(self) -> float | None:
        energy = self.energy_wh
        return None if energy <= 0 else 100.0 * min(self.solar_wh, energy) / energy

    @property
    def cost(self) -> float | None:
        """The expected cost of the grid energy (priced slots only); ``None`` without any price."""
        priced = [s for s in self.slots if s.grid_w > 0 and s.price is not None]
        if not priced and any(s.grid_w > 0 for s in self.slots):
            return None
        return sum(s.grid_w * s.hours / 1000.0 * (s.price or 0.0) for s in priced)

    def slot_at(self, moment: dt.datetime) -> PlannedSlot | None:
        for slot in self.slots:
            if slot.start <= moment < slot.end:
                return slot
        return None

    def first_grid_start(self) -> dt.datetime | None:
        starts = [s.start for s in self.slots if s.grid_w > 0]
        return min(starts) if starts else None


def slot_floor(moment: dt.datetime) -> dt.datetime:
    """The start of the 15-minute slot ``moment`` falls in (UTC slots; every zone's quarter hours)."""
    stamp = moment.timestamp()
    return dt.datetime.fromtimestamp(stamp - stamp % SLOT_S, dt.UTC)


def window(now: dt.datetime, departure: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slots from ``now`` to ``departure``, the first and last cut to them."""
    end = min(departure, now + HORIZON)
    slots = []
    start = slot_floor(now)
    while start < end:
        slots.append((max(start, now), min(start + SLOT, end)))
        start += SLOT
    return slots


def plan(
    now: dt.datetime,
    departure: dt.datetime,
    needed_wh: float,
    max_power_w: float,
    inputs: Iterable[SlotInput] = (),
    *,
    min_power_w: float = 0.0,
) -> Plan:
    """The plan for ``needed_wh`` by ``departure`` at up to ``max_power_w`` (see the module)."""
    if max_power_w <= 0 or not math.isfinite(max_power_w):
        raise ValueError(f"max_power_w must be a positive number, got {max_power_w}")
    min_power_w = max(0.0, min(min_power_w, max_power_w))
    by_start = {_key(s.start): s for s in inputs}
    spans = window(now, departure)
    found = [by_start.get(_key(a)) for a, _ in spans]
    prices = [None if f is None else f.price for f in found]
    usable = [0.0 if f is None else _usable(f.surplus_w, min_power_w, max_power_w) for f in found]
    needed = max(0.0, needed_wh)
    if needed_wh <= 0 or not spans:
        slots = tuple(PlannedSlot(a, b, 0.0, 0.0, p) for (a, b), p in zip(spans, prices, strict=True))
        return Plan(now, departure, needed, max_power_w, slots, feasible=needed_wh <= 0)
    hours = [(b - a).total_seconds() / 3600.0 for a, b in spans]
    if sum(hours) * max_power_w < needed_wh:
        # Behind: everything up to the departure, now.
        slots = tuple(PlannedSlot(a, b, max_power_w, u, p) for (a, b), u, p in zip(spans, usable, prices, strict=True))
        return Plan(now, departure, needed_wh, max_power_w, slots, feasible=False)
    solar = [0.0] * len(spans)
    grid = [0.0] * len(spans)
    left = needed_wh
    # 1. forecast surplus, the slots with the most first
    for i in sorted(range(len(spans)), key=lambda i: -usable[i]):
        if left <= 0 or usable[i] <= 0:
            break
        power = min(usable[i], left / hours[i]) if hours[i] > 0 else 0.0
        solar[i] = power
        left -= power * hours[i]
    # 2. the cheapest slots for the rest; same price: the latest first; unknown price last
    order = sorted(range(len(spans)), key=lambda i: (prices[i] is None, prices[i] or 0.0, -i))
    for i in order:
        if left <= 1e-9:
            break
        room = max_power_w - solar[i]
        if room <= 0 or hours[i] <= 0:
            continue
        power = min(room, left / hours[i])
        if solar[i] + power < min_power_w:
            power = min_power_w - solar[i]
        grid[i] = power
        left -= power * hours[i]
    slots = tuple(PlannedSlot(a, b, solar[i] + grid[i], solar[i], prices[i]) for i, (a, b) in enumerate(spans))
    return Plan(now, departure, needed_wh, max_power_w, slots, feasible=True)


def _key(moment: dt.datetime) -> int:
    """The slot a moment falls in, as whole seconds of its start (cheaper than a datetime)."""
    stamp = int(moment.timestamp())
    return stamp - stamp % SLOT_S


def _usable(surplus_w: float, min_w: float, max_w: float) -> float:
    """The forecast surplus the car can use in a slot: none below its minimum power."""
    surplus = max(0.0, surplus_w)
    return 0.0 if surplus < max(min_w, 1.0) else min(surplus, max_w)


# ---- the plan a person set, as the cycle gets it --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSettings:
    """A box's charging plan: energy by a departure, one-off (``departure``) or weekly
    (``weekdays``, Monday = 0, at local ``time``), and the slots the plant expects (forecast
    surplus and prices) from the last settings load."""

    target_wh: float
    departure: dt.datetime | None = None
    weekdays: tuple[int, ...] = ()
    time: dt.time | None = None
    time_zone: str = "UTC"
    slots: tuple[SlotInput, ...] = ()
    currency: str = "EUR"

    def next_departure(self, now: dt.datetime) -> dt.datetime | None:
        """The departure the plan works toward at ``now``; ``None`` once a one-off plan is past."""
        if self.departure is not None:
            return self.departure if self.departure > now else None
        if not self.weekdays or self.time is None:
            return None
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self.time_zone or "UTC")
        local = now.astimezone(zone)
        for days in range(8):
            day = local.date() + dt.timedelta(days=days)
            if day.weekday() not in self.weekdays:
                continue
            moment = dt.datetime.combine(day, self.time, tzinfo=zone)
            if moment > now:
                return moment.astimezone(dt.UTC)
        return None


def needed_wh(target_wh: float, delivered_wh: float) -> float:
    return max(0.0, target_wh - max(0.0, delivered_wh))


def describe(plan_: Plan, time_zone: str) -> str:
    """The reason people read: "charging plan: 12.4 kWh by 07:00, cheap hours from 22:00"."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(time_zone or "UTC")
    by = plan_.departure.astimezone(zone).strftime("%H:%M")
    text = f"charging plan: {plan_.needed_wh / 1000:.1f} kWh by {by}"
    if not plan_.feasible:
        return f"{text}, behind: charging now"
    start = plan_.first_grid_start()
    if start is not None:
        text += f", cheap hours from {start.astimezone(zone):%H:%M}"
    elif plan_.solar_wh > 0:
        text += ", from the forecast surplus"
    return text


def total(slots: Sequence[PlannedSlot]) -> float:
    return sum(s.energy_wh for s in slots)
