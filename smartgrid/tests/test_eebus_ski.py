"""SKIs as installers type them (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.eebus.service import DIAL_DELAY_RANGES_S, dial_delay_s
from smartgrid.eebus.ski import SkiError, format_ski, is_ski, normalise_ski

SKI = "6a2f01bc" * 5


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (SKI, SKI),
        (SKI.upper(), SKI),
        (format_ski(SKI), SKI),
        ("-".join(SKI[i : i + 2] for i in range(0, 40, 2)), SKI),
        (":".join(SKI[i : i + 2] for i in range(0, 40, 2)).upper(), SKI),
        (f"  {SKI}\n", SKI),
    ],
)
def test_an_ski_is_40_lower_case_hex_digits_after_normalising(raw: str, expected: str):
    assert normalise_ski(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (SKI[:-1], "39 hexadecimal digits, not 40"),
        (SKI + "0", "41 hexadecimal digits, not 40"),
        (SKI[:-1] + "g", "only hold hexadecimal digits"),
        (SKI[:-1] + "é", "only hold hexadecimal digits"),
        (None, "must be text"),
    ],
)
def test_anything_else_is_refused_naming_the_problem(raw: object, message: str):
    with pytest.raises(SkiError, match=message):
        normalise_ski(raw)  # type: ignore[arg-type]
    assert not is_ski(raw)


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["", " ", "-", ":"]), st.booleans())
def test_every_20_byte_ski_survives_any_separator_and_case(digest: bytes, separator: str, upper: bool):
    text = separator.join(f"{b:02x}" for b in digest)
    assert normalise_ski(text.upper() if upper else text) == digest.hex()


@given(st.text(max_size=60))
def test_normalising_never_raises_anything_but_ski_error(raw: str):
    try:
        value = normalise_ski(raw)
    except SkiError:
        return
    assert len(value) == 40 and int(value, 16) >= 0


@given(st.integers(min_value=0, max_value=50))
def test_dial_delays_follow_ship_go_ranges_and_the_last_repeats(attempt: int):
    low, high = DIAL_DELAY_RANGES_S[min(attempt, 2)]
    assert low <= dial_delay_s(attempt) <= high
