"""The SHIP vocabulary shared by the handshake (connection.py) and the data phase (link.py): message
types and close codes, the timers, the errors, splitting a WebSocket message into type byte and
body, and the checks on decoded bodies (a failing check raises ``Fatal``, which closes the
connection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .eebus_json import EebusJsonError, decode_message

MSG_INIT, MSG_CONTROL, MSG_DATA, MSG_END = 0, 1, 2, 3
CMI = b"\x00\x00"
PROTOCOL_ID = "ee1.0"
CLOSE_NORMAL = 4001
CLOSE_SHIP_ID_MISMATCH = 4450
CLOSE_REJECTED = 4452
# messageProtocolHandshakeError numbers
PROT_ERR_TIMEOUT, PROT_ERR_UNEXPECTED, PROT_ERR_MISMATCH = 1, 2, 3

Role = Literal["server", "client"]


@dataclass(frozen=True)
class ShipTimers:
    """All SHIP timers in seconds (defaults as ship-go); tests pass shorter ones."""

    cmi: float = 10.0
    hello_init: float = 60.0  # T_hello_init = T_hello_inc: what we announce as ``waiting``
    hello_prolong_threshold: float = 30.0  # ask for prolongation this long before the peer gives up
    hello_prolong_min: float = 1.0  # a peer waiting less than this is given up on
    pending_max: float = 120.0  # how long an unknown SKI is kept pending for the installer
    protocol: float = 10.0
    pin: float = 10.0
    access: float = 10.0
    abort_delay: float = 1.0  # between hello "aborted" and closing with 4452
    close_max: float = 0.5  # maxTime of a close announcement
    tls_handshake: float = 10.0
    ws_handshake: float = 10.0
    ping_interval: float = 50.0
    pong_timeout: float = 10.0
    max_message: int = 100 * 1024


class ShipError(ConnectionError):
    """The SHIP handshake or connection failed; the text is the logged reason."""


class ShipRejected(ShipError):
    """The peer (or we) refused trust during hello (close code 4452)."""


class ConnectionClosed(ConnectionError):
    """The SHIP connection is gone (raised by ``recv``/``send``)."""


class Fatal(Exception):
    """A malformed, unexpected or refused message: the connection is closed with ``code``."""

    def __init__(self, reason: str, code: int = CLOSE_NORMAL, hello_abort: bool = False, prot_error: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.hello_abort = hello_abort
        self.prot_error = prot_error


def need_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Fatal(f"{what} is not an object")
    return value


def need_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fatal(f"{what} is not an integer")
    return value


def parse_frame(raw: bytes) -> tuple[int, dict[str, Any] | None]:
    """Split a SHIP WebSocket message into its type byte and decoded body; ValueError if malformed."""
    if len(raw) < 2:
        raise ValueError(f"SHIP message of {len(raw)} byte(s), at least 2 are needed")
    kind = raw[0]
    if kind == MSG_INIT:
        if raw != CMI:
            raise ValueError("connection mode initialisation must be exactly 00 00")
        return kind, None
    if kind not in (MSG_CONTROL, MSG_DATA, MSG_END):
        raise ValueError(f"unknown SHIP message type 0x{kind:02x}")
    try:
        return kind, decode_message(raw[1:])
    except EebusJsonError as exc:
        raise ValueError(str(exc)) from exc


def formats_of(hs: dict[str, Any]) -> list[str]:
    formats = hs.get("formats")
    if formats is None:
        return []
    fmt = need_object(formats, "formats").get("format")
    if isinstance(fmt, str):
        return [fmt]
    if not isinstance(fmt, list) or not all(isinstance(x, str) for x in fmt):
        raise Fatal("formats.format is not a list of strings", prot_error=PROT_ERR_MISMATCH)
    return list(fmt)


def keys_of(message: dict[str, Any] | None) -> str:
    if not message:
        return "nothing"
    return json.dumps(sorted(message))[:80]
