"""Pricing as pure functions: exact to the cent, in local time, across clock changes (TAR-2)."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tariffs.pricing import (
    HOUR,
    EnergySlice,
    PriceBook,
    PricePoint,
    WeeklyTariff,
    basic_charge,
    buckets,
    hours_in_day,
    local_midnight,
    priced_buckets,
    prune_unused,
    shift,
    to_cents,
)

BERLIN = ZoneInfo("Europe/Berlin")
OLD = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
DAY_PRICE, NIGHT_PRICE = Decimal("0.29"), Decimal("0.18")


def day_night(valid_from: dt.datetime = OLD, day: str = "0.29", night: str = "0.18", charge: str = "0") -> WeeklyTariff:
    """0.29 from 06:00 to 22:00, 0.18 otherwise, every day."""
    hours = tuple(1 if 6 <= h < 22 else 0 for h in range(24))
    return WeeklyTariff(
        valid_from=valid_from, prices=(Decimal(night), Decimal(day)), grid=(hours,) * 7, basic_charge=Decimal(charge)
    )


def hourly_slices(start: dt.datetime, end: dt.datetime, energy_mwh: int) -> list[EnergySlice]:
    slices, moment = [], start
    while moment < end:
        slices.append(EnergySlice(moment, moment + HOUR, energy_mwh))
        moment += HOUR
    return slices


def week_cost(monday: dt.date, energy_mwh: int, book: PriceBook) -> tuple[int, Decimal]:
    edges = buckets("week", monday, BERLIN)
    bars = priced_buckets(edges, hourly_slices(edges[0][0], edges[-1][1], energy_mwh), book)
    hours = round((edges[-1][1] - edges[0][0]) / HOUR)
    return hours, sum((b.cost for b in bars if b.cost is not None), Decimal(0))


@pytest.mark.parametrize(
    ("monday", "hours", "night_hours"),
    [
        (dt.date(2026, 6, 8), 168, 56),  # an ordinary week
        (dt.date(2026, 3, 23), 167, 55),  # spring: 02:00-03:00 on Sunday 29 March does not exist
        (dt.date(2026, 10, 19), 169, 57),  # autumn: 02:00-03:00 on Sunday 25 October happens twice
    ],
)
def test_a_week_in_berlin_costs_exactly_what_the_hours_cost(monday: dt.date, hours: int, night_hours: int) -> None:
    book = PriceBook([day_night()], [], BERLIN)

    counted, cost = week_cost(monday, 1_234_000, book)  # 1.234 kWh every hour

    assert counted == hours
    day_hours = 7 * 16
    expected = Decimal("1.234") * (day_hours * DAY_PRICE + night_hours * NIGHT_PRICE)
    assert cost == expected  # exactly: no float anywhere
    assert to_cents(cost) == to_cents(expected)


def test_varying_hourly_energy_is_priced_at_its_own_local_hour() -> None:
    """Hour by hour on the autumn Sunday: 25 hours, two of them 02:00 local, both at night."""
    book = PriceBook([day_night()], [], BERLIN)
    day = dt.date(2026, 10, 25)
    edges = buckets("day", day, BERLIN)
    assert len(edges) == 25
    slices = [EnergySlice(s, e, (n + 1) * 100_000) for n, (s, e) in enumerate(edges)]  # 0.1, 0.2, ... 2.5 kWh

    bars = priced_buckets(edges, slices, book)

    local_hours = [s.astimezone(BERLIN).hour for s, _ in edges]
    assert local_hours[:5] == [0, 1, 2, 2, 3]
    expected = sum(
        (Decimal(n + 1) / 10 * (DAY_PRICE if 6 <= hour < 22 else NIGHT_PRICE) for n, hour in enumerate(local_hours)),
        Decimal(0),
    )
    assert sum(b.cost for b in bars if b.cost is not None) == expected
    # By hand: hours 06-21 are the 8th to 23rd of the day (0.8 ... 2.3 kWh, 24.8 kWh at 0.29),
    # the other 7.7 kWh at 0.18.
    assert expected == Decimal("24.8") * DAY_PRICE + Decimal("7.7") * NIGHT_PRICE == Decimal("8.578")
    assert to_cents(expected) == Decimal("8.58")


def test_float_drift_would_miss_the_cent_decimal_does_not() -> None:
    """1000 hours of 0.1 kWh at 0.29: float gives 28.999999999999, the bill says 29.00."""
    book = PriceBook([WeeklyTariff(valid_from=OLD, prices=(DAY_PRICE,), grid=((0,) * 24,) * 7)], [], BERLIN)
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    slices = hourly_slices(start, start + 1000 * HOUR, 100_000)

    [bar] = priced_buckets([(start, start + 1000 * HOUR)], slices, book)

    assert sum([0.1 * 0.29] * 1000) != 29.0
    assert bar.cost == Decimal("29.000000")


def test_a_price_change_on_wednesday_leaves_monday_as_it_was() -> None:
    monday = dt.date(2026, 6, 8)
    before = PriceBook([day_night()], [], BERLIN)
    wednesday = local_midnight(dt.date(2026, 6, 10), BERLIN)
    after = PriceBook([day_night(), day_night(wednesday, day="0.35", night="0.21")], [], BERLIN)
    edges = buckets("week", monday, BERLIN)
    slices = hourly_slices(edges[0][0], edges[-1][1], 1_000_000)

    old, new = priced_buckets(edges, slices, before), priced_buckets(edges, slices, after)

    assert [b.cost for b in new[:2]] == [b.cost for b in old[:2]]  # Monday, Tuesday
    assert new[2].cost == 16 * Decimal("0.35") + 8 * Decimal("0.21")  # Wednesday at the new prices
    assert new[2].cost != old[2].cost


def test_dynamic_prices_override_the_grid_for_their_own_time_and_may_be_negative() -> None:
    start = local_midnight(dt.date(2026, 6, 8), BERLIN) + 12 * HOUR  # 12:00 local, grid says 0.29
    quarters = [
        PricePoint(start + n * HOUR / 4, start + (n + 1) * HOUR / 4, Decimal(p))
        for n, p in enumerate(("-0.05", "0.01", "0.10", "0.30"))
    ]
    book = PriceBook([day_night()], quarters, BERLIN)

    assert book.price_at(start) == Decimal("-0.05")
    assert book.price_at(start + HOUR) == DAY_PRICE
    # An hour of history under four quarter prices: the energy shared out evenly over the quarters.
    assert book.cost(start, start + HOUR, Decimal(4)) == Decimal("-0.05") + Decimal("0.01") + Decimal("0.10") + Decimal(
        "0.30"
    )
    # The hour view's five-minute slices each fall inside one quarter.
    assert book.cost(start + 20 * dt.timedelta(minutes=1), start + 25 * dt.timedelta(minutes=1), Decimal(1)) == Decimal(
        "0.01"
    )


def test_before_the_first_version_the_first_version_applies() -> None:
    book = PriceBook([day_night(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))], [], BERLIN)
    assert book.price_at(dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)) == DAY_PRICE


def test_without_a_tariff_energy_has_no_cost() -> None:
    book = PriceBook([], [], BERLIN)
    start = local_midnight(dt.date(2026, 6, 8), BERLIN)
    [bar] = priced_buckets([(start, start + HOUR)], [EnergySlice(start, start + HOUR, 1000)], book)
    assert bar.energy_kwh == Decimal("0.001") and bar.cost is None


@pytest.mark.parametrize(
    ("period", "day", "count"),
    [
        ("hour", dt.date(2026, 3, 29), 12),
        ("day", dt.date(2026, 3, 29), 23),
        ("day", dt.date(2026, 10, 25), 25),
        ("day", dt.date(2026, 6, 8), 24),
        ("week", dt.date(2026, 6, 10), 7),
        ("month", dt.date(2026, 2, 14), 28),
        ("month", dt.date(2024, 2, 14), 29),
        ("month", dt.date(2026, 1, 31), 31),
        ("year", dt.date(2026, 7, 1), 12),
    ],
)
def test_views_have_their_bars(period: str, day: dt.date, count: int) -> None:
    edges = buckets(period, day, BERLIN)
    assert len(edges) == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))


def test_previous_and_next() -> None:
    assert shift("month", dt.date(2026, 1, 31), -1) == (dt.date(2025, 12, 1), 0)
    assert shift("week", dt.date(2026, 6, 10), 1) == (dt.date(2026, 6, 15), 0)
    assert shift("year", dt.date(2026, 6, 10), -1) == (dt.date(2025, 1, 1), 0)
    # The hour view crosses midnight and counts the real hours of a 25-hour day.
    assert shift("hour", dt.date(2026, 10, 25), 1, 24, BERLIN) == (dt.date(2026, 10, 26), 0)
    assert shift("hour", dt.date(2026, 10, 26), -1, 0, BERLIN) == (dt.date(2026, 10, 25), 24)
    assert hours_in_day(dt.date(2026, 10, 25), BERLIN) == 25


@pytest.mark.parametrize(
    ("month", "days"),
    [(dt.date(2026, 1, 1), 31), (dt.date(2026, 2, 1), 28), (dt.date(2026, 3, 1), 31), (dt.date(2026, 10, 1), 31)],
)
def test_basic_charge_pro_rata_is_exact(month: dt.date, days: int) -> None:
    book = PriceBook([day_night(charge="20.00")], [], BERLIN)
    edges = buckets("month", month, BERLIN)

    assert basic_charge(book, edges[0][0], edges[-1][1]) == Decimal(20)  # the whole month: exactly the charge
    assert basic_charge(book, *edges[0]) == Decimal(20) / days
    assert to_cents(sum((basic_charge(book, *e) for e in edges), Decimal(0))) == Decimal("20.00")
    # A week of February is a quarter of it.
    if days == 28:
        assert basic_charge(book, edges[0][0], edges[7][0]) == Decimal(5)


def test_basic_charge_of_an_hour_is_its_share_of_its_day() -> None:
    book = PriceBook([day_night(charge="23.00")], [], BERLIN)
    start = local_midnight(dt.date(2026, 3, 29), BERLIN)  # 23 hours, March has 31 days
    assert basic_charge(book, start, start + HOUR) == Decimal(23) / 31 / 23


def test_a_working_price_without_hours_is_removed() -> None:
    grid = [[0] * 12 + [2] * 12 for _ in range(7)]
    names, prices, new_grid = prune_unused(["night", "unused", "day"], [Decimal(1), Decimal(2), Decimal(3)], grid)
    assert names == ["night", "day"] and prices == [Decimal(1), Decimal(3)]
    assert new_grid[0] == [0] * 12 + [1] * 12


def test_a_grid_must_be_seven_days_of_twenty_four_hours() -> None:
    with pytest.raises(ValueError, match="7 days"):
        WeeklyTariff(valid_from=OLD, prices=(Decimal(1),), grid=((0,) * 23,) * 7)
    with pytest.raises(ValueError, match="working prices"):
        WeeklyTariff(valid_from=OLD, prices=(Decimal(1),), grid=((1,) * 24,) * 7)


ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"])


@given(zone=ZONES, day=st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31)))
def test_a_month_of_day_shares_is_exactly_one_charge(zone: str, day: dt.date) -> None:
    tz = ZoneInfo(zone)
    book = PriceBook(
        [WeeklyTariff(valid_from=OLD, prices=(Decimal(1),), grid=((0,) * 24,) * 7, basic_charge=Decimal("17.31"))],
        [],
        tz,
    )
    edges = buckets("month", day, tz)
    assert sum((basic_charge(book, *e) for e in edges), Decimal(0)).quantize(Decimal("1e-20")) == Decimal("17.31")


@given(
    zone=ZONES,
    day=st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31)),
    energies=st.lists(st.integers(0, 50_000_000), min_size=25, max_size=25),
)
def test_a_day_costs_the_sum_of_its_hours(zone: str, day: dt.date, energies: list[int]) -> None:
    tz = ZoneInfo(zone)
    book = PriceBook([day_night()], [], tz)
    edges = buckets("day", day, tz)
    slices = [EnergySlice(s, e, energies[n]) for n, (s, e) in enumerate(edges)]
    [whole] = priced_buckets([(edges[0][0], edges[-1][1])], slices, book)
    hours = priced_buckets(edges, slices, book)
    assert whole.cost == sum((h.cost for h in hours if h.cost is not None), Decimal(0))
    assert whole.energy_kwh == Decimal(sum(energies[: len(edges)])).scaleb(-6)


def test_the_pure_modules_import_nothing_of_django() -> None:
    code = "import sys, tariffs.pricing, tariffs.history, tariffs.price_files; print(any(m.startswith('django') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("hours_later", [1, 5, 30 * 24])
def test_an_hour_outside_the_dynamic_prices_without_a_weekly_tariff_has_no_price(hours_later: int) -> None:
    """Found by bench/storage.py: a plant with dynamic prices for some hours and no weekly tariff
    made the year view of its costs fail (500) on the first hour without a dynamic price."""
    start = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    book = PriceBook([], [PricePoint(start, start + dt.timedelta(hours=1), Decimal("0.25"))], BERLIN)
    assert book.cost(start, start + dt.timedelta(hours=1), Decimal(2)) == Decimal("0.50")
    later = start + dt.timedelta(hours=hours_later)
    assert book.cost(later, later + dt.timedelta(hours=1), Decimal(2)) is None
