"""ScaledNumber and ISO 8601 duration helpers (SPINE data types)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.spine.values import (
    BadValue,
    format_duration,
    parse_duration,
    parse_end_time,
    parse_scaled_number,
    scaled_number,
)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, {"number": 0, "scale": 0}),
        (-0.0, {"number": 0, "scale": 0}),
        (1.5, {"number": 15, "scale": -1}),
        (4200, {"number": 4200, "scale": 0}),
        (-3000, {"number": -3000, "scale": 0}),
        (0.0001, {"number": 1, "scale": -4}),
        (230.25, {"number": 23025, "scale": -2}),
    ],
)
def test_scaled_number_as_eebus_go_writes_it(value: float, wire: dict[str, int]) -> None:
    assert scaled_number(value) == wire


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        ({"number": 42}, 42.0),  # an omitted scale is 0
        ({"number": 15, "scale": -1}, 1.5),
        ({"number": 42, "scale": 3}, 42000.0),
        ({"number": -5, "scale": None}, -5.0),
    ],
)
def test_parse_scaled_number(wire: dict[str, int], value: float) -> None:
    assert parse_scaled_number(wire) == pytest.approx(value)


@pytest.mark.parametrize(
    "wire",
    [
        None,
        5,
        "5",
        {"number": "5"},
        {"number": 1.5},
        {"number": True},
        {"scale": 1},
        {"number": 1, "scale": 200},
        {"number": 2**64},
    ],
)
def test_parse_scaled_number_refuses_wrong_shapes(wire: object) -> None:
    with pytest.raises(BadValue):
        parse_scaled_number(wire)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_scaled_number_round_trip_at_four_decimals(tenthousandths: int) -> None:
    value = tenthousandths / 10_000
    wire = scaled_number(value)
    assert parse_scaled_number(wire) == pytest.approx(value, abs=1e-9)
    assert wire["scale"] <= 0 and (wire["number"] % 10 != 0 or wire["scale"] == 0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT4S", 4),
        ("PT2H", 7200),
        ("PT1H2M3S", 3723),
        ("P0D", 0),
        ("PT0S", 0),
        ("P1D", 86400),
        ("P1W", 604800),
        ("PT0.5S", 0.5),
        ("P1DT1H", 90000),
        ("-PT1M", -60),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "4S", "PT1X", "P1Y", "P1M", 5, None, "PT" + "9" * 80 + "S", "P99999999999D"]
)
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(BadValue):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "PT0S"),
        (4, "PT4S"),
        (3723, "PT1H2M3S"),
        (7200, "PT2H"),
        (90, "PT1M30S"),
        (86400, "PT24H"),
        (0.25, "PT0.25S"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10 * 365 * 86400 * 1000))
def test_duration_round_trip(millis: int) -> None:
    seconds = millis / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-6)
    assert format_duration(parse_duration(text)) == text


def test_relative_and_absolute_end_time() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_end_time("PT15M", now) == 900
    assert parse_end_time((now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), now) == 300
    assert parse_end_time("2025-01-01T00:00:00Z", now) == 0  # in the past: no time left
    with pytest.raises(BadValue):
        parse_end_time("tomorrow", now)
