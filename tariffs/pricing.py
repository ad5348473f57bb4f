"""Prices, costs, periods and the basic charge as pure functions (TAR-1, TAR-2).

Nothing here imports Django, touches a database or reads the clock: the cost views, the tests
and the benchmark all go through these functions. Money is ``Decimal`` throughout; costs are
rounded to the cent only where they leave (``to_cents``). Times are aware datetimes; the weekly
grid is read in the plant's local time (``zoneinfo``), so 23- and 25-hour days price correctly.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

HOUR = dt.timedelta(hours=1)
FIVE_MINUTES = dt.timedelta(minutes=5)
DAYS_PER_WEEK = 7
HOURS_PER_DAY = 24
CENT = Decimal("0.01")
PERIODS = ("hour", "day", "week", "month", "year")
DIRECTIONS = ("purchase", "feed_in")


def to_cents(amount: Decimal) -> Decimal:
    """Round money for people: to the cent, halves away from zero."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# ---- tariffs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeeklyTariff:
    """One version of a tariff: named working prices on a 7 x 24 grid, from ``valid_from`` on.

    ``grid[weekday][hour]`` is an index into ``prices`` (weekday 0 = Monday, local time).
    ``basic_charge`` is per calendar month.
    """

    valid_from: dt.datetime
    prices: tuple[Decimal, ...]
    grid: tuple[tuple[int, ...], ...]
    basic_charge: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if len(self.grid) != DAYS_PER_WEEK or any(len(day) != HOURS_PER_DAY for day in self.grid):
            raise ValueError("the grid must have 7 days of 24 hours")
        if any(not 0 <= index < len(self.prices) for day in self.grid for index in day):
            raise ValueError("every hour of the grid must name one of the working prices")

    def price_at_local(self, local: dt.datetime) -> Decimal:
        return self.prices[self.grid[local.weekday()][local.hour]]


def flat_grid() -> tuple[tuple[int, ...], ...]:
    return tuple((0,) * HOURS_PER_DAY for _ in range(DAYS_PER_WEEK))


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A dynamic price for [start, end): an hour or a quarter hour of a day-ahead market. May be negative."""

    start: dt.datetime
    end: dt.datetime
    price: Decimal


class PriceBook:
    """Everything that sets the price of one tariff (purchase or feed-in): its versions and dynamic prices.

    The version in force at a moment is the latest one with ``valid_from`` at or before it; before
    the first version, the first one applies (a tariff entered today also prices the energy recorded
    before it). A dynamic price point overrides the grid for its own time.
    """

    def __init__(self, versions: Iterable[WeeklyTariff], points: Iterable[PricePoint], tz: ZoneInfo) -> None:
        self.versions = sorted(versions, key=lambda v: v.valid_from)
        self._version_starts = [v.valid_from for v in self.versions]
        self.points = sorted(points, key=lambda p: p.start)
        self._point_starts = [p.start for p in self.points]
        self.tz = tz

    def version_at(self, moment: dt.datetime) -> WeeklyTariff | None:
        if not self.versions:
            return None
        return self.versions[max(bisect_right(self._version_starts, moment) - 1, 0)]

    def point_at(self, moment: dt.datetime) -> PricePoint | None:
        index = bisect_right(self._point_starts, moment) - 1
        if index >= 0 and self.points[index].end > moment:
            return self.points[index]
        return None

    def price_at(self, moment: dt.datetime) -> Decimal | None:
        point = self.point_at(moment) if self.points else None
        if point is not None:
            return point.price
        version = self.version_at(moment)
        return None if version is None else version.price_at_local(moment.astimezone(self.tz))

    def _breaks(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Where the price may change inside (start, end): local hours, versions, dynamic points."""
        breaks = set()
        local_hour = floor_local_hour(start, self.tz) + HOUR
        while local_hour < end:
            breaks.add(local_hour)
            local_hour += HOUR
        breaks.update(v for v in self._version_starts if start < v < end)
        if self.points:
            first = max(bisect_right(self._point_starts, start) - 1, 0)
            for point in self.points[first:]:
                if point.start >= end:
                    break
                breaks.update(moment for moment in (point.start, point.end) if start < moment < end)
        return sorted(breaks)

    def cost(self, start: dt.datetime, end: dt.datetime, energy_kwh: Decimal) -> Decimal | None:
        """What ``energy_kwh`` over [start, end) cost (or earned) at the prices in force.

        Where the price changes inside the interval (an hour of history under quarter-hour
        prices), the energy is shared out in proportion to time: the history knows no finer.
        """
        if not self.versions and not self.points:
            return None
        if end - start <= HOUR:
            # The common cases, quickly: an hour of history under one dynamic price, or under no
            # dynamic price inside one local hour of the grid with no version starting inside it.
            last = bisect_left(self._point_starts, end) - 1
            if last >= 0 and self.points[last].end > start:
                if self.points[last].start <= start and self.points[last].end >= end:
                    return energy_kwh * self.points[last].price
            else:
                local = start.astimezone(self.tz)
                if local.minute == 0 and local.second == 0 and local.microsecond == 0:
                    index = bisect_right(self._version_starts, start)
                    # No weekly tariff at all (only dynamic prices, elsewhere): no price, below.
                    if self.versions and (index == len(self._version_starts) or self._version_starts[index] >= end):
                        return energy_kwh * self.versions[max(index - 1, 0)].price_at_local(local)
        breaks = self._breaks(start, end)
        if not breaks:
            price = self.price_at(start)
            return None if price is None else energy_kwh * price
        edges = [start, *breaks, end]
        total_s = Decimal((end - start).total_seconds())
        amount = Decimal(0)
        for piece_start, piece_end in itertools.pairwise(edges):
            price = self.price_at(piece_start)
            if price is None:
                return None
            amount += energy_kwh * price * Decimal((piece_end - piece_start).total_seconds()) / total_s
        return amount


# ---- periods ----------------------------------------------------------------------------------


def floor_local_hour(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    local = moment.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The start of a local calendar day, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def hours_between(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Real hours (3600 s each) from ``start``: 23 on the spring day, 25 in autumn."""
    result = []
    moment = start
    while moment < end:
        result.append((moment, moment + HOUR))
        moment += HOUR
    return result


def period_start_day(period: str, day: dt.date) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return day


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def shift(
    period: str, day: dt.date, steps: int, hour_index: int = 0, tz: ZoneInfo | None = None
) -> tuple[dt.date, int]:
    """The period ``steps`` before (negative) or after this one: (date, hour index for the hour view)."""
    first = period_start_day(period, day)
    if period == "hour":
        assert tz is not None
        start = local_midnight(day, tz) + (hour_index + steps) * HOUR
        new_day = start.astimezone(tz).date()
        return new_day, round((start - local_midnight(new_day, tz)) / HOUR)
    if period == "day":
        return first + dt.timedelta(days=steps), 0
    if period == "week":
        return first + dt.timedelta(weeks=steps), 0
    if period == "month":
        return _add_months(first, steps), 0
    return first.replace(year=first.year + steps), 0


def hours_in_day(day: dt.date, tz: ZoneInfo) -> int:
    return round((local_midnight(day + dt.timedelta(days=1), tz) - local_midnight(day, tz)) / HOUR)


def buckets(period: str, day: dt.date, tz: ZoneInfo, hour_index: int = 0) -> list[tuple[dt.datetime, dt.datetime]]:
    """The bars of a view, in UTC: an hour in 12 five-minute steps, a day in hours (23/24/25),
    a week or month in days, a year in 12 months."""
    first = period_start_day(period, day)
    if period == "hour":
        start = local_midnight(day, tz) + hour_index * HOUR
        return [(start + n * FIVE_MINUTES, start + (n + 1) * FIVE_MINUTES) for n in range(12)]
    if period == "day":
        return hours_between(local_midnight(first, tz), local_midnight(first + dt.timedelta(days=1), tz))
    if period in ("week", "month"):
        count = 7 if period == "week" else calendar.monthrange(first.year, first.month)[1]
        days = [first + dt.timedelta(days=n) for n in range(count + 1)]
        edges = [local_midnight(d, tz) for d in days]
        return list(itertools.pairwise(edges))
    if period == "year":
        edges = [local_midnight(_add_months(first, n), tz) for n in range(13)]
        return list(itertools.pairwise(edges))
    raise ValueError(f"unknown period {period!r}")


# ---- basic charge -----------------------------------------------------------------------------


def basic_charge_share(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> dict[dt.date, Fraction]:
    """How much of each local day's share of its month [start, end) covers.

    A day is 1/28 ... 1/31 of its month whatever its length (23 or 25 hours); a part of a day is
    its share of that day's real hours. A whole month sums to exactly 1.
    """
    shares: dict[dt.date, Fraction] = {}
    day = start.astimezone(tz).date()
    while True:
        day_start, day_end = local_midnight(day, tz), local_midnight(day + dt.timedelta(days=1), tz)
        if day_start >= end:
            break
        overlap = (min(end, day_end) - max(start, day_start)).total_seconds()
        if overlap > 0:
            month_days = calendar.monthrange(day.year, day.month)[1]
            shares[day] = Fraction(round(overlap), round((day_end - day_start).total_seconds())) / month_days
        day += dt.timedelta(days=1)
    return shares


def basic_charge(book: PriceBook, start: dt.datetime, end: dt.datetime) -> Decimal:
    """The monthly basic charge pro rata for [start, end), each day at the version in force then (exact)."""
    total = Fraction(0)
    for day, share in basic_charge_share(start, end, book.tz).items():
        version = book.version_at(local_midnight(day, book.tz))
        if version is not None:
            total += Fraction(version.basic_charge) * share
    return Decimal(total.numerator) / Decimal(total.denominator)


# ---- buckets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnergySlice:
    """Energy of one interval of the history (an hour, or five minutes for the hour view)."""

    start: dt.datetime
    end: dt.datetime
    energy_mwh: int
    gap: bool = False


@dataclass(frozen=True, slots=True)
class Bucket:
    start: dt.datetime
    end: dt.datetime
    energy_kwh: Decimal | None
    cost: Decimal | None  # unrounded
    gap: bool


def mwh_to_kwh(energy_mwh: int) -> Decimal:
    return Decimal(energy_mwh).scaleb(-6)


def priced_buckets(
    edges: Sequence[tuple[dt.datetime, dt.datetime]], slices: Sequence[EnergySlice], book: PriceBook
) -> list[Bucket]:
    """Sum the slices into the view's bars, each slice at the price in force for it.

    A bar without any slice has no energy (``None``: no data, not zero); a bar is a gap when
    any of its slices is.
    """
    result = []
    starts = [s.start for s in slices]
    for bucket_start, bucket_end in edges:
        first = bisect_right(starts, bucket_start - dt.timedelta(microseconds=1))
        energy_mwh, cost, gap, seen, priced = 0, Decimal(0), False, False, True
        for piece in slices[first:]:
            if piece.start >= bucket_end:
                break
            seen = True
            energy_mwh += piece.energy_mwh
            gap = gap or piece.gap
            piece_cost = (
                book.cost(piece.start, piece.end, mwh_to_kwh(piece.energy_mwh)) if piece.energy_mwh else Decimal(0)
            )
            if piece_cost is None:
                priced = False
            else:
                cost += piece_cost
        result.append(
            Bucket(
                start=bucket_start,
                end=bucket_end,
                energy_kwh=mwh_to_kwh(energy_mwh) if seen else None,
                cost=cost if seen and priced and (book.versions or book.points) else None,
                gap=gap,
            )
        )
    return result


# ---- editing ----------------------------------------------------------------------------------


def prune_unused(
    names: Sequence[str], prices: Sequence[Decimal], grid: Sequence[Sequence[int]]
) -> tuple[list[str], list[Decimal], list[list[int]]]:
    """Drop the working prices no hour uses (TAR-1) and renumber the grid; the order is kept."""
    used = sorted({index for day in grid for index in day})
    renumber = {old: new for new, old in enumerate(used)}
    return (
        [names[i] for i in used],
        [prices[i] for i in used],
        [[renumber[index] for index in day] for day in grid],
    )
