"""EEBus-JSON (SHIP ch. 11): golden wire examples and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartgrid.ship.eebus_json import EebusJsonError, decode_message, encode_data, encode_message, from_eebus, to_eebus

# Wire examples (the bytes after the type byte) as ship-go and real devices send them.
GOLDEN = [
    (
        '{"connectionHello":[{"phase":"ready"},{"waiting":60000}]}',
        {"connectionHello": {"phase": "ready", "waiting": 60000}},
    ),
    (
        '{"connectionHello":[{"phase":"pending"},{"prolongationRequest":true}]}',
        {"connectionHello": {"phase": "pending", "prolongationRequest": True}},
    ),
    ('{"connectionHello":[{"phase":"aborted"}]}', {"connectionHello": {"phase": "aborted"}}),
    (
        '{"messageProtocolHandshake":[{"handshakeType":"announceMax"},{"version":[{"major":1},{"minor":0}]},'
        '{"formats":[{"format":["JSON-UTF8"]}]}]}',
        {
            "messageProtocolHandshake": {
                "handshakeType": "announceMax",
                "version": {"major": 1, "minor": 0},
                "formats": {"format": ["JSON-UTF8"]},
            }
        },
    ),
    ('{"connectionPinState":[{"pinState":"none"}]}', {"connectionPinState": {"pinState": "none"}}),
    ('{"accessMethodsRequest":[]}', {"accessMethodsRequest": {}}),
    ('{"accessMethods":[{"id":"Demo-ControlBox-123456789"}]}', {"accessMethods": {"id": "Demo-ControlBox-123456789"}}),
    (
        '{"connectionClose":[{"phase":"announce"},{"maxTime":500},{"reason":"unspecific"}]}',
        {"connectionClose": {"phase": "announce", "maxTime": 500, "reason": "unspecific"}},
    ),
    (
        '{"loadControlLimitListData":[{"loadControlLimitData":[[{"limitId":0},{"isLimitChangeable":true},'
        '{"isLimitActive":false},{"value":[]}]]}]}',
        {
            "loadControlLimitListData": {
                "loadControlLimitData": [{"limitId": 0, "isLimitChangeable": True, "isLimitActive": False, "value": {}}]
            }
        },
    ),
]

HEARTBEAT_WIRE = (
    '{"data":[{"header":[{"protocolId":"ee1.0"}]},{"payload":{"datagram":[{"header":[{"specificationVersion":"1.3.0"},'
    '{"addressSource":[{"device":"d:_n:EVCC_HEMS-EVCC-3235"},{"entity":[1]},{"feature":8}]},'
    '{"addressDestination":[{"device":"d:_i:47859_EVBox-Livo"},{"entity":[1,1]},{"feature":1001}]},'
    '{"msgCounter":99},{"cmdClassifier":"notify"}]},{"payload":[{"cmd":[[{"deviceDiagnosisHeartbeatData":'
    '[{"timestamp":"2025-11-13T18:27:11Z"},{"heartbeatCounter":263},{"heartbeatTimeout":"PT4S"}]}]]}]}]}}]}'
)
HEARTBEAT_SPINE = {
    "datagram": {
        "header": {
            "specificationVersion": "1.3.0",
            "addressSource": {"device": "d:_n:EVCC_HEMS-EVCC-3235", "entity": [1], "feature": 8},
            "addressDestination": {"device": "d:_i:47859_EVBox-Livo", "entity": [1, 1], "feature": 1001},
            "msgCounter": 99,
            "cmdClassifier": "notify",
        },
        "payload": {
            "cmd": [
                {
                    "deviceDiagnosisHeartbeatData": {
                        "timestamp": "2025-11-13T18:27:11Z",
                        "heartbeatCounter": 263,
                        "heartbeatTimeout": "PT4S",
                    }
                }
            ]
        },
    }
}


@pytest.mark.parametrize(("wire", "plain"), GOLDEN)
def test_golden_messages_both_ways(wire: str, plain: dict) -> None:
    assert decode_message(wire.encode()) == plain
    assert encode_message(plain).decode() == wire


def test_data_message_payload_is_not_wrapped() -> None:
    assert encode_data(HEARTBEAT_SPINE).decode() == HEARTBEAT_WIRE
    decoded = decode_message(HEARTBEAT_WIRE.encode())
    assert decoded["data"]["header"] == {"protocolId": "ee1.0"}
    assert decoded["data"]["payload"] == HEARTBEAT_SPINE


def test_key_order_is_kept() -> None:
    plain = {"z": 1, "a": 2, "m": {"y": 1, "b": 2}}
    assert json.dumps(to_eebus(plain)) == '[{"z": 1}, {"a": 2}, {"m": [{"y": 1}, {"b": 2}]}]'
    assert list(from_eebus(to_eebus(plain))) == ["z", "a", "m"]


def test_trailing_zero_bytes_are_tolerated() -> None:
    assert decode_message(b'{"connectionPinState":[{"pinState":"none"}]}\x00\x00') == {
        "connectionPinState": {"pinState": "none"}
    }


def test_brackets_inside_strings_survive() -> None:
    plain = {"accessMethods": {"id": 'odd [{"},{"}] id'}}
    assert decode_message(encode_message(plain)) == plain


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1,2]", b'{"a":1,"b":2}', b"\xff\xfe", b'"text"', b'{"x":[{"k":1},{"k":2}]}', b"[" * 100000],
)
def test_malformed_input_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(EebusJsonError):
        decode_message(raw)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8))
keys = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)


def _objects(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.dictionaries(keys, children, max_size=4)


plain_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        _objects(children),
        st.lists(scalars, min_size=1, max_size=4),
        st.lists(_objects(children), min_size=1, max_size=3),
    ),
    max_leaves=25,
)


@given(st.dictionaries(keys, plain_values, min_size=1, max_size=1))
def test_round_trip_of_plain_objects(message: dict) -> None:
    assert decode_message(encode_message(message)) == message
    assert json.dumps(decode_message(encode_message(message))) == json.dumps(message)  # order too


@given(_objects(plain_values))
def test_round_trip_of_spine_payloads(spine: dict) -> None:
    assert decode_message(encode_data(spine))["data"]["payload"] == spine
