"""The SHIP state machine against a scripted peer: exact bytes sent, errors, and fuzzed input.

The transport is replaced by a queue here (the real sockets are in test_ship_node/hostile): this
is the pure handshake logic, fed message by message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartgrid.ship.connection import ShipConnection
from smartgrid.ship.frames import ShipError, ShipRejected, ShipTimers, parse_frame
from smartgrid.ship.transport import WsClosed

TIMERS = ShipTimers(
    cmi=0.2,
    hello_init=0.3,
    hello_prolong_threshold=0.1,
    hello_prolong_min=0.01,
    pending_max=0.3,
    protocol=0.2,
    pin=0.2,
    access=0.2,
    abort_delay=0.0,
    close_max=0.05,
)

CMI = b"\x00\x00"
HELLO_READY = b'\x01{"connectionHello":[{"phase":"ready"},{"waiting":60000}]}'
ANNOUNCE = (
    b'\x01{"messageProtocolHandshake":[{"handshakeType":"announceMax"},{"version":[{"major":1},{"minor":0}]},'
    b'{"formats":[{"format":["JSON-UTF8"]}]}]}'
)
SELECT = (
    b'\x01{"messageProtocolHandshake":[{"handshakeType":"select"},{"version":[{"major":1},{"minor":0}]},'
    b'{"formats":[{"format":["JSON-UTF8"]}]}]}'
)
PIN = b'\x01{"connectionPinState":[{"pinState":"none"}]}'
ACCESS_REQ = b'\x01{"accessMethodsRequest":[]}'
ACCESS = b'\x01{"accessMethods":[{"id":"Peer-1"}]}'
DATA = b'\x02{"data":[{"header":[{"protocolId":"ee1.0"}]},{"payload":{"datagram":[{"header":[{"msgCounter":1}]}]}}]}'


class ScriptedWs:
    """Stands in for WsConnection: what the peer says is queued, what we say is recorded."""

    def __init__(self, incoming: list[bytes]):
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        for item in incoming:
            self.inbox.put_nowait(item)
        self.sent: list[bytes] = []
        self.close_code: int | None = None
        self.error = ""

    async def recv(self) -> bytes:
        item = await self.inbox.get()
        if item is None:
            self.inbox.put_nowait(None)
            raise WsClosed(self.close_code, "")
        return item

    async def send(self, data: bytes) -> None:
        if self.close_code is not None:
            raise WsClosed(self.close_code)
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str = "", grace: float = 1.0) -> None:
        if self.close_code is None:
            self.close_code = code
        self.inbox.put_nowait(None)


def make(incoming: list[bytes], *, role: str = "server", trusted: bool = True, known: str | None = None):
    ws = ScriptedWs(incoming)
    conn = ShipConnection(
        ws,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
        local_ship_id="Own-1",
        remote_ski="ab" * 20,
        trusted=trusted,
        known_ship_id=known,
        timers=TIMERS,
    )
    return conn, ws


async def test_server_sends_exactly_what_ship_go_sends() -> None:
    conn, ws = make([CMI, HELLO_READY, ANNOUNCE, SELECT, PIN, ACCESS_REQ, ACCESS, DATA])
    await conn.handshake()
    assert conn.complete and conn.remote_ship_id == "Peer-1"
    hello = HELLO_READY.replace(b"60000", b"300")  # our hello_init is 0.3 s here
    assert ws.sent == [CMI, hello, SELECT, PIN, ACCESS_REQ, b'\x01{"accessMethods":[{"id":"Own-1"}]}']
    assert await asyncio.wait_for(conn.recv(), 1) == {"datagram": {"header": {"msgCounter": 1}}}


async def test_client_sends_exactly_what_ship_go_sends() -> None:
    conn, ws = make([CMI, HELLO_READY, SELECT, PIN, ACCESS, ACCESS_REQ], role="client")
    await conn.handshake()
    assert conn.complete
    hello = HELLO_READY.replace(b"60000", b"300")
    assert ws.sent[:6] == [CMI, hello, ANNOUNCE, SELECT, PIN, ACCESS_REQ]
    await asyncio.sleep(0.05)  # the late request is answered by the data phase
    assert ws.sent[6] == b'\x01{"accessMethods":[{"id":"Own-1"}]}'


async def test_close_announce_is_confirmed_with_4001() -> None:
    conn, ws = make([CMI, HELLO_READY, ANNOUNCE, SELECT, PIN, ACCESS_REQ, ACCESS])
    await conn.handshake()
    ws.inbox.put_nowait(b'\x03{"connectionClose":[{"phase":"announce"},{"maxTime":500},{"reason":"unspecific"}]}')
    await asyncio.wait_for(conn.closed.wait(), 1)
    assert ws.sent[-1] == b'\x03{"connectionClose":[{"phase":"confirm"}]}'
    assert ws.close_code == 4001


async def test_own_close_announces_first() -> None:
    conn, ws = make([CMI, HELLO_READY, ANNOUNCE, SELECT, PIN, ACCESS_REQ, ACCESS])
    await conn.handshake()
    await conn.close("removedConnection")
    assert b'{"connectionClose":[{"phase":"announce"},{"maxTime":50},{"reason":"removedConnection"}]}' in ws.sent[-1]
    assert ws.close_code == 4001


@pytest.mark.parametrize(
    ("incoming", "role", "sent_error"),
    [
        ([CMI, HELLO_READY, b'\x01{"messageProtocolHandshakeError":[{"error":3}]}'], "client", None),
        ([CMI, HELLO_READY, b'\x01{"error":3}'], "client", None),  # ship-go's form without root key
        (
            [CMI, HELLO_READY, ANNOUNCE.replace(b'"major":1', b'"major":0')],
            "server",
            b'\x01{"messageProtocolHandshakeError":[{"error":3}]}',
        ),
        ([CMI, HELLO_READY, SELECT], "server", b'\x01{"messageProtocolHandshakeError":[{"error":2}]}'),
        ([CMI, HELLO_READY], "server", b'\x01{"messageProtocolHandshakeError":[{"error":1}]}'),
        (
            [CMI, HELLO_READY, SELECT.replace(b'"JSON-UTF8"', b'"JSON-UTF8","JSON-UTF16"')],
            "client",
            b'\x01{"messageProtocolHandshakeError":[{"error":3}]}',
        ),
    ],
)
async def test_protocol_handshake_errors(incoming, role, sent_error) -> None:
    conn, ws = make(incoming, role=role)
    with pytest.raises(ShipError):
        await conn.handshake()
    assert ws.close_code == 4001
    if sent_error is not None:
        assert ws.sent[-1] == sent_error


async def test_pin_other_than_none_is_refused() -> None:
    conn, ws = make([CMI, HELLO_READY, ANNOUNCE, SELECT, PIN.replace(b"none", b"required")])
    with pytest.raises(ShipError, match="PIN state 'required'"):
        await conn.handshake()
    assert ws.close_code == 4001


async def test_ship_id_mismatch_closes_with_4450() -> None:
    conn, ws = make([CMI, HELLO_READY, ANNOUNCE, SELECT, PIN, ACCESS_REQ, ACCESS], known="Someone-Else")
    with pytest.raises(ShipError, match="SHIP id mismatch"):
        await conn.handshake()
    assert ws.close_code == 4450


async def test_pending_answers_prolongation_requests_and_aborts_with_4452() -> None:
    prolong = b'\x01{"connectionHello":[{"phase":"pending"},{"prolongationRequest":true}]}'
    conn, ws = make([CMI, prolong], trusted=False)
    with pytest.raises(ShipRejected):
        await conn.handshake()
    assert ws.sent[1] == b'\x01{"connectionHello":[{"phase":"pending"},{"waiting":300}]}'
    assert ws.sent[2].startswith(b'\x01{"connectionHello":[{"phase":"pending"},{"waiting":')
    assert ws.sent[-1] == b'\x01{"connectionHello":[{"phase":"aborted"}]}'
    assert ws.close_code == 4452


async def test_ready_side_extends_on_prolongation_request() -> None:
    prolong = b'\x01{"connectionHello":[{"phase":"pending"},{"prolongationRequest":true}]}'
    conn, ws = make([CMI, b'\x01{"connectionHello":[{"phase":"pending"},{"waiting":60000}]}', prolong])
    task = asyncio.create_task(conn.handshake())
    await asyncio.sleep(0.2)
    assert ws.sent[-1] == b'\x01{"connectionHello":[{"phase":"ready"},{"waiting":300}]}'
    assert len([m for m in ws.sent if b'"ready"' in m]) == 2
    ws.inbox.put_nowait(HELLO_READY)
    ws.inbox.put_nowait(ANNOUNCE)
    await asyncio.sleep(0.05)
    assert ws.sent[-1] == SELECT
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_pending_side_asks_for_prolongation_before_the_peer_gives_up() -> None:
    timers = TIMERS.__class__(**{**TIMERS.__dict__, "pending_max": 1.0})
    ws = ScriptedWs([CMI, b'\x01{"connectionHello":[{"phase":"ready"},{"waiting":300}]}'])
    conn = ShipConnection(
        ws,  # type: ignore[arg-type]
        role="server",
        local_ship_id="Own-1",
        remote_ski="ab" * 20,
        trusted=False,
        known_ship_id=None,
        timers=timers,
    )
    task = asyncio.create_task(conn.handshake())
    await asyncio.sleep(0.35)  # peer waits 0.3 s; we ask 0.1 s (threshold) before that
    assert b'{"connectionHello":[{"phase":"pending"},{"prolongationRequest":true}]}' in ws.sent[-1]
    conn.approve()
    await asyncio.sleep(0.05)
    assert ws.sent[-1] == b'\x01{"connectionHello":[{"phase":"ready"},{"waiting":300}]}'
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


_VALID = [CMI, HELLO_READY, ANNOUNCE, SELECT, PIN, ACCESS_REQ, ACCESS, DATA]
frames = st.one_of(
    st.sampled_from(
        [
            *_VALID,
            b'\x01{"connectionHello":[{"phase":"pending"},{"waiting":100}]}',
            b'\x01{"connectionHello":[{"phase":"aborted"}]}',
            b'\x03{"connectionClose":[{"phase":"announce"}]}',
            b"\x01{}",
            b"\x01[]",
            b"\x01null",
            b'\x01{"connectionHello":5}',
            b'\x01{"messageProtocolHandshake":[{"version":"x"}]}',
        ]
    ),
    st.binary(max_size=40),
    st.builds(lambda b: bytes([b[0] % 4]) + b[1:], st.binary(min_size=1, max_size=40)),
)


@settings(max_examples=150)
@given(st.lists(frames, max_size=10), st.sampled_from(["server", "client"]), st.booleans())
def test_any_input_ends_in_complete_or_a_clean_close(incoming: list[bytes], role: str, trusted: bool) -> None:
    async def run() -> tuple[Any, ScriptedWs]:
        conn, ws = make([*incoming, None], role=role, trusted=trusted)  # type: ignore[list-item]
        try:
            await asyncio.wait_for(conn.handshake(), 5)
        except ShipError:
            assert ws.close_code is not None and conn.closed.is_set()
        else:
            assert conn.complete
            await conn.close("done")
        return conn, ws

    asyncio.run(run())


@given(st.binary(max_size=200))
def test_parse_frame_never_raises_anything_but_value_error(raw: bytes) -> None:
    try:
        kind, body = parse_frame(raw)
    except ValueError:
        return
    assert kind in (0, 1, 2, 3) and (body is None or isinstance(body, dict))
