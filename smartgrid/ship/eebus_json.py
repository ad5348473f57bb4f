"""EEBus-JSON (SHIP 1.0.1 chapter 11): plain JSON objects <-> the array form on the wire.

On the wire every JSON object (an XSD complexType) is an array of single-key objects in sequence
order; a list of complex elements is an array of such arrays; arrays of simple values stay plain;
an empty object is ``[]``. The converter here is structural and keeps the key order (ship-go does
naive string replacement, which breaks on strings that contain brackets). The SHIP ``data`` message
carries the SPINE object in ``payload`` not wrapped in an array.

``to_eebus``/``from_eebus`` convert one value; ``encode_message``/``decode_message`` a whole SHIP
message body (the bytes after the type byte), whose top level stays a JSON object.
"""

from __future__ import annotations

import json
from typing import Any

JsonValue = Any


class EebusJsonError(ValueError):
    """The bytes are not a SHIP message in EEBus-JSON."""


def to_eebus(value: JsonValue) -> JsonValue:
    """Plain JSON value -> EEBus-JSON array form."""
    if isinstance(value, dict):
        return [{key: to_eebus(item)} for key, item in value.items()]
    if isinstance(value, list):
        return [to_eebus(item) for item in value]
    return value


def _is_object_form(value: list[Any]) -> bool:
    return all(isinstance(item, dict) and len(item) == 1 for item in value)


def from_eebus(value: JsonValue) -> JsonValue:
    """EEBus-JSON array form -> plain JSON value (tolerates parts that are already plain objects)."""
    if isinstance(value, dict):
        return {key: from_eebus(item) for key, item in value.items()}
    if isinstance(value, list):
        if not value:
            return {}
        if _is_object_form(value):
            out: dict[str, Any] = {}
            for item in value:
                ((key, inner),) = item.items()
                if key in out:
                    raise EebusJsonError(f"key {key!r} appears twice in one object")
                out[key] = from_eebus(inner)
            return out
        return [from_eebus(item) for item in value]
    return value


def encode_message(message: dict[str, Any]) -> bytes:
    """A SHIP message (plain object with one root key) -> compact EEBus-JSON bytes."""
    body = {key: to_eebus(item) for key, item in message.items()}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_data(spine: dict[str, Any], protocol_id: str = "ee1.0") -> bytes:
    """The body of a SHIP ``data`` message carrying one SPINE object (payload not wrapped)."""
    payload = {key: to_eebus(item) for key, item in spine.items()}
    body = {"data": [{"header": [{"protocolId": protocol_id}]}, {"payload": payload}]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_message(raw: bytes) -> dict[str, Any]:
    """EEBus-JSON bytes -> plain object. Trailing 0x00 bytes (sent by some devices) are ignored."""
    text = bytes(raw).rstrip(b"\x00")
    try:
        parsed = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EebusJsonError(f"not JSON: {exc}") from exc
    if isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict):
        parsed = parsed[0]  # the outer array ship-go strips
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise EebusJsonError("a SHIP message must be a JSON object with exactly one root key")
    try:
        result = from_eebus(parsed)
    except RecursionError as exc:
        raise EebusJsonError("message nested too deeply") from exc
    assert isinstance(result, dict)
    return result
