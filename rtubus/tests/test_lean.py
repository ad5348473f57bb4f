"""The lean register decoder gives what pymodbus' own gives, for every reply and every damage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from rtubus.lean import LeanRegistersResponse


def _decoded(cls: type[ReadHoldingRegistersResponse], data: bytes) -> list[int] | str:
    pdu = cls()
    try:
        pdu.decode(data)
    except ModbusIOException as exc:
        return f"error: {exc}"
    return list(pdu.registers)


@given(st.lists(st.integers(0, 0xFFFF), max_size=125))
def test_a_whole_reply_decodes_to_the_same_words(words: list[int]) -> None:
    data = bytes([2 * len(words)]) + b"".join(w.to_bytes(2, "big") for w in words)
    assert _decoded(LeanRegistersResponse, data) == _decoded(ReadHoldingRegistersResponse, data) == words


@given(st.binary(min_size=1, max_size=260))
def test_any_bytes_decode_or_fail_alike(data: bytes) -> None:
    assert _decoded(LeanRegistersResponse, data) == _decoded(ReadHoldingRegistersResponse, data)


@pytest.mark.parametrize("data", [b"\x04\x00\x01", b"\x05\x00\x01\x00\x02\x07", b"\x00"])
def test_short_and_odd_byte_counts(data: bytes) -> None:
    assert _decoded(LeanRegistersResponse, data) == _decoded(ReadHoldingRegistersResponse, data)
