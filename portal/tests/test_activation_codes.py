"""The activation-code check itself (ACT-1), without a database: bound to the serial and the key,
random codes refused with overwhelming probability, typed codes read leniently."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal import activation

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")
SERIAL = "KSEM-0000012345"


def test_an_issued_code_releases_its_option_on_its_serial():
    for option in activation.OPTIONS:
        code = activation.code_for(KEY, SERIAL, option)
        assert len(code) == 10 and code.isdigit()
        assert activation.check(KEY, SERIAL, code).option == option


def test_a_code_is_read_with_spaces_and_dashes_and_the_serial_in_any_case():
    code = activation.code_for(KEY, SERIAL, activation.WALLBOX)
    typed = f" {code[:3]} {code[3:6]}-{code[6:]} "
    assert activation.check(KEY, SERIAL.lower(), typed).option == activation.WALLBOX


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12))
def test_a_code_for_one_serial_fails_on_every_other(suffix: str):
    other = f"KSEM-{suffix}"
    if other == SERIAL:
        return
    code = activation.code_for(KEY, SERIAL, activation.WALLBOX)
    if code in {activation.code_for(KEY, other, option) for option in activation.OPTIONS}:
        pytest.skip("a 1-in-5e9 collision")  # pragma: no cover
    with pytest.raises(activation.ActivationError) as refused:
        activation.check(KEY, other, code)
    assert refused.value.reason == "invalid"
    assert other.upper() in str(refused.value)


@given(st.integers(min_value=0, max_value=10**10 - 1))
def test_random_codes_are_refused(number: int):
    code = f"{number:010d}"
    valid = {activation.code_for(KEY, SERIAL, option) for option in activation.OPTIONS}
    if code in valid:
        return  # the two numbers in 10^10 that are right
    with pytest.raises(activation.ActivationError) as refused:
        activation.check(KEY, SERIAL, code)
    assert refused.value.reason == "invalid"


def test_a_code_made_with_another_key_is_refused():
    code = activation.code_for(OTHER_KEY, SERIAL, activation.WALLBOX)
    with pytest.raises(activation.ActivationError):
        activation.check(KEY, SERIAL, code)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("123", "format"),
        ("12345678901", "format"),
        ("12345abcde", "format"),
        ("１２３４５６７８９０", "format"),
    ],
)
def test_what_is_not_ten_digits_is_refused_with_the_reason(typed: str, reason: str):
    with pytest.raises(activation.ActivationError) as refused:
        activation.check(KEY, SERIAL, typed)
    assert refused.value.reason == reason


def test_without_a_key_the_device_says_it_cannot_check():
    with pytest.raises(activation.ActivationError) as refused:
        activation.check(None, SERIAL, "0123456789")
    assert refused.value.reason == "no_key"


def test_short_keys_and_bad_serials_are_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        activation.parse_key("short")
    with pytest.raises(ValueError, match="serial"):
        activation.code_for(KEY, "no spaces allowed", activation.WALLBOX)
    assert activation.parse_key(KEY.hex()) == KEY


def test_new_serials_are_valid_and_differ():
    serials = {activation.new_serial() for _ in range(50)}
    assert len(serials) == 50
    assert all(activation.normalise_serial(s) == s for s in serials)
