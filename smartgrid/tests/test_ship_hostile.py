"""Hostile peers: each bad connection is closed with a reason; the node keeps serving good peers."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

from smartgrid.ship.identity import ephemeral_identity
from smartgrid.tests.ship_helpers import FAST, certificate_with_ski, client_ssl, make_node


@pytest.fixture
async def server():
    node, store, rec = make_node("Server")
    good, _good_store, _ = make_node("Good")
    store.trust(good.ski)
    await node.start()
    await good.start()
    yield node, store, rec, good
    await good.stop()
    await node.stop()


async def assert_still_serves(node, good) -> None:
    conn = await asyncio.wait_for(good.connect("127.0.0.1", node.port, node.ski), 5)
    assert conn.complete
    await conn.close("done")


async def raw(node, identity=None, subprotocols=("ship",)):
    ident = identity or ephemeral_identity("Hostile")
    return await ws_connect(
        f"wss://127.0.0.1:{node.port}/ship/",
        ssl=client_ssl(ident),
        subprotocols=list(subprotocols),
        open_timeout=3,
        ping_interval=None,
        max_size=None,
    )


async def closed_code(ws) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"\x05garbage"], 4001),  # unknown type byte instead of CMI
        ([b"\x00"], 4001),  # frame shorter than 2 bytes
        ([b"\x00\x01"], 4001),  # CMI with a wrong value
        ([b"\x00\x00", b"\x01{not json"], 4001),  # bad JSON in hello
        (
            [b"\x00\x00", b'\x02{"data":[{"header":[{"protocolId":"ee1.0"}]},{"payload":{}}]}'],
            4452,
        ),  # data before hello
        ([b"\x00\x00", b'\x01{"connectionHello":[{"phase":"ready"},{"waiting":"soon"}]}'], 4001),  # wrong type
        ([b"\x00\x00", b'\x01{"messageProtocolHandshake":[{"handshakeType":"announceMax"}]}'], 4452),  # wrong order
        ([b"\x00\x00", b"\x01" + b"[" * 5000], 4001),  # absurd nesting
    ],
)
async def test_malformed_or_out_of_order_frames_close_the_connection(server, caplog, frames, code) -> None:
    node, _store, rec, good = server
    caplog.set_level(logging.INFO, logger="smartgrid.ship")
    ws = await raw(node)
    for frame in frames:
        await ws.send(frame)
    assert await closed_code(ws) == code
    assert rec.connections == []
    assert any("closing in state" in r.getMessage() for r in caplog.records)
    await assert_still_serves(node, good)


async def test_text_frames_are_refused(server) -> None:
    node, _, _rec, good = server
    ws = await raw(node)
    await ws.send("\x00\x00")
    assert await closed_code(ws) == 1003
    await assert_still_serves(node, good)


async def test_oversized_message_is_refused(server) -> None:
    node, store, _rec, good = server
    ident = ephemeral_identity("Big")
    store.trust(ident.ski)
    ws = await raw(node, ident)
    await ws.send(b"\x00\x00")
    await ws.recv()
    await ws.send(b"\x01" + b" " * (FAST.max_message + 10))
    assert await closed_code(ws) == 1009
    await assert_still_serves(node, good)


async def test_wrong_subprotocol_is_refused(server) -> None:
    node, _, _, good = server
    with pytest.raises(InvalidStatus) as info:
        await raw(node, subprotocols=("chat",))
    assert info.value.response.status_code == 400
    with pytest.raises(InvalidHandshake):
        await raw(node, subprotocols=())
    await assert_still_serves(node, good)


async def test_certificate_without_ski_is_refused(server) -> None:
    node, _, _, good = server

    async def attempt() -> None:
        ws = await ws_connect(
            f"wss://127.0.0.1:{node.port}/ship/",
            ssl=client_ssl(cert_key=certificate_with_ski(None)),
            subprotocols=[Subprotocol("ship")],
            open_timeout=3,
        )
        await ws.recv()

    with pytest.raises((OSError, InvalidHandshake, ConnectionError, TimeoutError)):
        await attempt()
    await assert_still_serves(node, good)


async def test_silent_peers_do_not_block_others(server) -> None:
    node, _, _, good = server
    # one peer that opens TCP and says nothing, one that completes TLS+WebSocket and then sends nothing
    _reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    ws = await raw(node)
    await assert_still_serves(node, good)
    assert await closed_code(ws) == 4001  # CMI timer
    writer.close()


async def test_garbage_instead_of_tls(server) -> None:
    node, _, _, good = server
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) is not None
    writer.close()
    await assert_still_serves(node, good)


async def test_garbage_http_upgrade(server) -> None:
    node, _, _, good = server
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port, ssl=client_ssl(ephemeral_identity("x")))
    writer.write(b"\x00\xff NOT HTTP\r\n\r\n" * 10)
    await writer.drain()
    await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await assert_still_serves(node, good)


async def test_peer_that_stops_answering_pings_is_dropped(server) -> None:
    node, _store, rec, good = server
    conn = await good.connect("127.0.0.1", node.port, node.ski)
    await asyncio.wait_for(rec.connected.wait(), 2)
    # the good node stops answering pings (as a hung peer would)
    proto = conn.ws._proto
    answer = proto.recv_frame

    def ignore_pings(frame: Frame) -> None:
        if frame.opcode is not Opcode.PING:
            answer(frame)

    proto.recv_frame = ignore_pings
    server_side = rec.connections[0]
    await asyncio.wait_for(server_side.closed.wait(), FAST.ping_interval + FAST.pong_timeout + 2)
    assert "pong" in server_side.ws.error


@pytest.mark.parametrize(
    "frame",
    [
        b"\x02not json",
        b'\x02{"data":[{"header":[{"protocolId":"ee1.0"}]},{"payload":[1,2]}]}',
        b'\x02{"data":[{"header":[{"protocolId":"other"}]},{"payload":{"datagram":[]}}]}',
        b'\x01{"connectionHello":[{"phase":"ready"}]}',
        b"\x00\x00",
        b'\x03{"connectionClose":[{"phase":"whatever"}]}',
    ],
)
async def test_bad_messages_after_the_handshake_close_only_that_connection(server, frame) -> None:
    node, _store, rec, good = server
    conn = await good.connect("127.0.0.1", node.port, node.ski)
    await asyncio.wait_for(rec.connected.wait(), 2)
    server_side = rec.connections[0]
    await conn.ws.send(frame)
    await asyncio.wait_for(server_side.closed.wait(), 3)
    await asyncio.wait_for(conn.closed.wait(), 3)
    assert server_side.close_reason
    await assert_still_serves(node, good)
