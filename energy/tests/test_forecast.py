"""The PV and load forecast: solar geometry against known values, the history scaling, the load
profile's fall-backs, the error measure, and properties over random plants, times and histories."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy import forecast as f

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SITE = f.Site(51.0, 10.0, 10_000.0)


def elevation_deg(t: dt.datetime, lat: float, lon: float) -> float:
    cos_z, _ = f.solar_position(t.timestamp(), lat, lon)
    return 90.0 - math.degrees(math.acos(cos_z))


@pytest.mark.parametrize(
    ("when", "lat", "lon", "expected_deg"),
    [
        # Solar noon elevations: 90 - |lat - declination|.
        (dt.datetime(2026, 6, 21, 11, 20, tzinfo=UTC), 51.0, 10.0, 62.4),  # summer solstice, Germany
        (dt.datetime(2026, 12, 21, 11, 28, tzinfo=UTC), 51.0, 10.0, 15.6),  # winter solstice
        (dt.datetime(2026, 3, 20, 12, 7, tzinfo=UTC), 0.0, 0.0, 89.9),  # equinox, equator
        (dt.datetime(2026, 6, 21, 23, 20, tzinfo=UTC), 51.0, 10.0, -15.6),  # midnight in June
    ],
)
def test_solar_elevation_matches_known_values(when, lat, lon, expected_deg):
    assert elevation_deg(when, lat, lon) == pytest.approx(expected_deg, abs=0.6)


@pytest.mark.parametrize(
    ("when", "azimuth_deg"),
    [
        (dt.datetime(2026, 6, 21, 11, 20, tzinfo=UTC), 180.0),  # noon: south
        (dt.datetime(2026, 6, 21, 5, 0, tzinfo=UTC), 70.0),  # June morning: east-north-east
        (dt.datetime(2026, 6, 21, 17, 40, tzinfo=UTC), 290.0),  # June evening: west-north-west
    ],
)
def test_sun_azimuth(when, azimuth_deg):
    _, azimuth = f.solar_position(when.timestamp(), 51.0, 10.0)
    assert math.degrees(azimuth) == pytest.approx(azimuth_deg, abs=8.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latitude_deg": 91.0}, "latitude"),
        ({"longitude_deg": -181.0}, "longitude"),
        ({"peak_w": -1.0}, "peak"),
        ({"peak_w": math.nan}, "peak"),
        ({"tilt_deg": 95.0}, "tilt"),
        ({"azimuth_deg": 400.0}, "azimuth"),
    ],
)
def test_site_rejects_impossible_values(kwargs, message):
    values = {"latitude_deg": 51.0, "longitude_deg": 10.0, "peak_w": 10_000.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        f.Site(**values)


def test_unknown_time_zone_is_refused():
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        f.Site(51.0, 10.0, 1000.0, time_zone="Mars/Olympus")


@pytest.mark.parametrize(
    ("zone", "location"),
    [("Europe/Berlin", (51.0, 10.0)), ("Europe/Vienna", (47.6, 14.1)), ("America/Lima", f.DEFAULT_LOCATION)],
)
def test_default_location_per_time_zone(zone, location):
    assert f.default_location(zone) == location


def test_cold_start_is_the_clear_sky_curve():
    now = dt.datetime(2026, 6, 21, 0, 5, tzinfo=UTC)
    forecast = f.compute(now, SITE)
    assert forecast.pv_source == "clear-sky"
    assert forecast.load_source == "base load"
    assert len(forecast.slots) == f.SLOTS == 144
    assert forecast.slots[0].start == dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    assert all(s.load_w == f.DEFAULT_BASE_LOAD_W for s in forecast.slots)
    # A clear June day in Germany: 6-8 kWh per kWp; the peak around solar noon.
    day = [s for s in forecast.slots if s.start.date() == now.date()]
    energy_kwh = sum(s.pv_w for s in day) * 0.25 / 1000
    assert 55 < energy_kwh < 80
    best = max(day, key=lambda s: s.pv_w)
    assert dt.time(10, 30) <= best.start.time() <= dt.time(12, 0)


def test_winter_day_is_short_and_low():
    forecast = f.compute(dt.datetime(2026, 12, 21, 0, 0, tzinfo=UTC), SITE)
    day = [s for s in forecast.slots[:96]]
    assert max(s.pv_w for s in day) < 0.3 * SITE.peak_w
    lit = [s for s in day if s.pv_w > 0]
    assert 7 * 4 <= len(lit) <= 9 * 4  # about 8 hours of daylight


def test_orientation_moves_the_curve():
    now = dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    east = f.compute(now, f.Site(51.0, 10.0, 10_000.0, tilt_deg=40, azimuth_deg=90))
    west = f.compute(now, f.Site(51.0, 10.0, 10_000.0, tilt_deg=40, azimuth_deg=270))
    at = {s.start.hour: s.pv_w for s in east.slots[:96] if s.start.minute == 0}
    at_w = {s.start.hour: s.pv_w for s in west.slots[:96] if s.start.minute == 0}
    assert at[6] > 1.5 * at_w[6]  # 08:00 local: the east roof is ahead
    assert at_w[15] > 1.5 * at[15]  # 17:00 local: the west roof


def clear_history(site: f.Site, now: dt.datetime, days: int, factor_by_band=(1.0, 1.0, 1.0), step_s: int = 300):
    """5-minute samples of the clear-sky curve times a factor per band, for the ``days`` before now."""
    samples = []
    start = int(now.timestamp()) - days * 86_400
    for t_s in range(start, int(now.timestamp()), step_s):
        hour = dt.datetime.fromtimestamp(t_s, zoneinfo.ZoneInfo(site.time_zone)).hour
        band = next(i for i, (a, b) in enumerate(f.BANDS) if a <= hour < b)
        samples.append(
            (dt.datetime.fromtimestamp(t_s, UTC), f.clear_sky_w(t_s + step_s / 2, site) * factor_by_band[band])
        )
    return samples


@pytest.mark.parametrize(
    ("factors", "expected"),
    [
        ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ((0.8, 0.6, 0.3), (0.8, 0.6, 0.3)),  # hazy mornings, a tree in the afternoon
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),  # snow on the modules
        ((2.0, 2.0, 2.0), (f.MAX_RATIO,) * 3),  # never trusts more than MAX_RATIO
    ],
)
def test_history_scales_the_clear_sky_per_band(factors, expected):
    now = dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    history = clear_history(SITE, now, 5, factors)
    ratios = f.pv_ratios(SITE, history, now)
    assert ratios == pytest.approx(expected, abs=0.03)
    forecast = f.compute(now, SITE, history)
    assert forecast.pv_source == "history"
    cold = f.compute(now, SITE)
    for scaled, clear in zip(forecast.slots, cold.slots, strict=True):
        band = next(i for i, (a, b) in enumerate(f.BANDS) if a <= scaled.start.astimezone(BERLIN).hour < b)
        assert scaled.pv_w == pytest.approx(min(SITE.peak_w, clear.pv_w * expected[band]), rel=0.04, abs=1.0)


def test_recent_days_weigh_more():
    now = dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    old_dark = clear_history(SITE, now - dt.timedelta(days=2), 5, (0.2, 0.2, 0.2))
    recent_bright = clear_history(SITE, now, 2, (1.0, 1.0, 1.0))
    ratios = f.pv_ratios(SITE, old_dark + recent_bright, now)
    assert ratios is not None
    assert all(r > 0.6 for r in ratios)  # a plain average of the 7 days would be about 0.43


def test_too_little_history_is_a_cold_start():
    now = dt.datetime(2026, 6, 21, 6, 0, tzinfo=UTC)
    history = clear_history(SITE, now, 1)[-12:]  # the last hour of dawn
    assert f.pv_ratios(SITE, history, now) is None
    assert f.compute(now, SITE, history).pv_source == "clear-sky"


def test_history_older_than_a_week_is_ignored():
    now = dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    history = clear_history(SITE, now - dt.timedelta(days=8), 3, (0.1, 0.1, 0.1))
    assert f.pv_ratios(SITE, history, now) is None


def weekly_load(t: dt.datetime) -> float:
    local = t.astimezone(BERLIN)
    return 200.0 + 100.0 * local.weekday() + 10.0 * local.hour + (500.0 if local.weekday() >= 5 else 0.0)


@pytest.mark.parametrize(
    ("history_days", "weekday_now", "source"),
    [
        (28, "same weekday", "history"),
        (0, "base", "base load"),
    ],
)
def test_load_profile_sources(history_days, weekday_now, source):
    now = dt.datetime(2026, 6, 22, 0, 0, tzinfo=UTC)
    history = [
        (now - dt.timedelta(minutes=5 * n), weekly_load(now - dt.timedelta(minutes=5 * n)))
        for n in range(1, history_days * 288 + 1)
    ]
    forecast = f.compute(now, SITE, load_history=history)
    assert forecast.load_source == source


@pytest.mark.parametrize(
    ("history", "expected_w"),
    [
        # Only Tuesdays known: a Saturday slot falls back to all days at that time of day.
        ("tuesdays", 200.0 + 100.0 * 1 + 10.0 * 12),
        # Only Sundays known: a Saturday slot takes the weekend average (Sunday).
        ("sundays", 200.0 + 100.0 * 6 + 10.0 * 12 + 500.0),
        # Only the night known: a noon slot takes the history's mean.
        ("nights", 200.0 + 100.0 * 1 + 10.0 * 2.5),
    ],
)
def test_load_falls_back_to_kind_of_day_then_all_days_then_mean(history, expected_w):
    now = dt.datetime(2026, 6, 20, 9, 0, tzinfo=UTC)  # a Saturday
    samples = []
    for n in range(1, 28 * 288):
        t = now - dt.timedelta(minutes=5 * n)
        local = t.astimezone(BERLIN)
        if history == "tuesdays" and local.weekday() != 1:
            continue
        if history == "sundays" and local.weekday() != 6:
            continue
        if history == "nights" and not (local.weekday() == 1 and 2 <= local.hour < 4):
            continue
        samples.append((t, weekly_load(t)))
    forecast = f.compute(now, SITE, load_history=samples)
    noon = next(s for s in forecast.slots if s.start.astimezone(BERLIN).hour == 12)
    assert noon.load_w == pytest.approx(expected_w, rel=0.01)


@pytest.mark.parametrize(
    ("predicted", "actual", "expected"),
    [
        ([1000.0, 1000.0], [1000.0, 1000.0], 0.0),
        ([0.0, 0.0], [1000.0, 1000.0], 100.0),
        ([1500.0, 500.0], [1000.0, 1000.0], 50.0),
        ([2000.0, 2000.0], [1000.0, 1000.0], 100.0),
    ],
)
def test_daily_mae_pct(predicted, actual, expected):
    t0 = dt.datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
    slots = [(t0 + dt.timedelta(minutes=15 * n), w) for n, w in enumerate(predicted)]
    samples = [(t0 + dt.timedelta(minutes=5 * n), actual[n // 3]) for n in range(3 * len(actual))]
    assert f.daily_mae_pct(slots, samples) == {dt.date(2026, 6, 21): pytest.approx(expected)}
    assert f.mae_pct(slots, samples) == pytest.approx(expected)


def test_mae_of_a_day_without_energy_is_left_out():
    t0 = dt.datetime(2026, 6, 21, 1, 0, tzinfo=UTC)
    assert f.daily_mae_pct([(t0, 10.0)], [(t0, 0.0)]) == {}
    assert f.mae_pct([(t0, 10.0)], [(t0, 0.0)]) is None


def test_json_round_trip():
    now = dt.datetime(2026, 6, 21, 0, 0, tzinfo=UTC)
    forecast = f.compute(now, SITE, clear_history(SITE, now, 3, (0.7, 0.7, 0.7)))
    again = f.Forecast.from_json(forecast.to_json())
    assert again.computed_at == forecast.computed_at
    assert again.pv_source == "history"
    assert [s.start for s in again.slots] == [s.start for s in forecast.slots]
    assert [s.pv_w for s in again.slots] == pytest.approx([s.pv_w for s in forecast.slots], abs=0.06)


# ---- properties ----------------------------------------------------------------------------------

sites = st.builds(
    f.Site,
    latitude_deg=st.floats(-66.0, 66.0),
    longitude_deg=st.floats(-180.0, 180.0),
    peak_w=st.floats(0.0, 1_000_000.0),
    time_zone=st.sampled_from(["Europe/Berlin", "UTC", "America/New_York", "Australia/Sydney"]),
    tilt_deg=st.one_of(st.none(), st.floats(0.0, 90.0)),
    azimuth_deg=st.one_of(st.none(), st.floats(0.0, 360.0)),
)
moments = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(UTC))


@st.composite
def histories(draw):
    """Irregular (time before now, W) samples: anything a broken meter might log, NaN included."""
    offsets = draw(st.lists(st.integers(1, 8 * 86_400), max_size=60))
    values = draw(
        st.lists(
            st.one_of(st.floats(-5_000.0, 2_000_000.0), st.just(math.nan)),
            min_size=len(offsets),
            max_size=len(offsets),
        )
    )
    return list(zip(offsets, values, strict=True))


@settings(max_examples=60, deadline=None)
@given(site=sites, now=moments, history=histories())
def test_pv_is_never_negative_never_above_peak_and_zero_at_night(site, now, history):
    samples = [(now - dt.timedelta(seconds=offset), w) for offset, w in history]
    forecast = f.compute(now, site, samples, samples, slots=48)
    assert len(forecast.slots) == 48
    for slot in forecast.slots:
        assert 0.0 <= slot.pv_w <= site.peak_w
        assert slot.load_w >= 0.0
        middle = slot.start.timestamp() + f.SLOT_S / 2
        cos_z, _ = f.solar_position(middle, site.latitude_deg, site.longitude_deg)
        if cos_z <= 0.0:
            assert slot.pv_w == 0.0


@settings(max_examples=40, deadline=None)
@given(site=sites, now=moments)
def test_cold_start_works_with_no_history(site, now):
    forecast = f.compute(now, site, [], [])
    assert forecast.pv_source == "clear-sky"
    assert all(s.load_w == site.base_load_w for s in forecast.slots)
    assert forecast.slots[0].start <= now < forecast.slots[0].start + dt.timedelta(seconds=f.SLOT_S)
    starts = [s.start for s in forecast.slots]
    assert all(b - a == dt.timedelta(seconds=f.SLOT_S) for a, b in itertools.pairwise(starts))


@settings(max_examples=25, deadline=None)
@given(
    pattern=st.lists(st.floats(0.0, 20_000.0), min_size=7 * 24, max_size=7 * 24),
    now=moments,
    weeks=st.integers(1, 4),
)
def test_load_profile_reproduces_a_repeating_weekly_pattern(pattern, now, weeks):
    """A house that does the same every week (one value per local weekday and hour) is forecast exactly."""

    def load(t: dt.datetime) -> float:
        local = t.astimezone(BERLIN)
        return pattern[local.weekday() * 24 + local.hour]

    now = now.replace(minute=0, second=0, microsecond=0)
    samples = [(now - dt.timedelta(minutes=15 * n), 0.0) for n in range(1, weeks * 7 * 96 + 1)]
    samples = [(t, load(t)) for t, _ in samples]
    forecast = f.compute(now, SITE, load_history=samples)
    for slot in forecast.slots:
        assert slot.load_w == pytest.approx(load(slot.start), rel=1e-9, abs=1e-6)
