"""Two SHIP nodes in one process on loopback: coupling, trust, decoupling, data both ways."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

import pytest

from smartgrid.ship import ShipError, ShipRejected
from smartgrid.ship.frames import CLOSE_REJECTED
from smartgrid.tests.ship_helpers import FAST, client_ssl, make_node

DATAGRAM = {
    "datagram": {
        "header": {"specificationVersion": "1.3.0", "msgCounter": 1, "cmdClassifier": "read"},
        "payload": {"cmd": [{"nodeManagementDetailedDiscoveryData": {}}]},
    }
}


async def eventually(check, within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def pair():
    a, store_a, rec_a = make_node("A")
    b, store_b, rec_b = make_node("B")
    await a.start()
    await b.start()
    yield a, store_a, rec_a, b, store_b, rec_b
    await b.stop()
    await a.stop()


async def test_trusted_couple_completes_and_exchanges_data(pair) -> None:
    a, store_a, rec_a, b, store_b, rec_b = pair
    store_a.trust(b.ski)
    store_b.trust(a.ski)
    conn_b = await b.connect("127.0.0.1", a.port, a.ski)
    assert conn_b.remote_ski == a.ski
    assert conn_b.remote_ship_id == "Test-A"
    await asyncio.wait_for(rec_a.connected.wait(), 2)
    conn_a = rec_a.connections[0]
    assert conn_a.remote_ski == b.ski and conn_a.remote_ship_id == "Test-B"
    assert store_a.ship_id_for(b.ski) == "Test-B"
    assert [c.remote_ski for c in a.connections] == [b.ski]

    await conn_b.send(DATAGRAM)
    got_conn, got = await asyncio.wait_for(rec_a.received.get(), 2)
    assert got == DATAGRAM and got_conn is conn_a
    reply = {"datagram": {"header": {"msgCounter": 7}, "payload": {"cmd": [{"resultData": {"errorNumber": 0}}]}}}
    await conn_a.send(reply)
    _, got = await asyncio.wait_for(rec_b.received.get(), 2)
    assert got == reply


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"])
async def test_tls_12_with_each_ship_cipher_suite(pair, cipher) -> None:
    a, *_ = pair
    from smartgrid.ship.identity import ephemeral_identity

    ctx = client_ssl(ephemeral_identity("tls12"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    _reader, writer = await asyncio.open_connection("127.0.0.1", a.port, ssl=ctx)
    tls = writer.get_extra_info("ssl_object")
    assert (tls.version(), tls.cipher()[0]) == ("TLSv1.2", cipher)
    writer.close()


async def test_tls_12_without_a_ship_cipher_suite_is_refused(pair) -> None:
    a, *_ = pair
    from smartgrid.ship.identity import ephemeral_identity

    ctx = client_ssl(ephemeral_identity("tls12"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.open_connection("127.0.0.1", a.port, ssl=ctx)


async def test_server_requires_a_client_certificate(pair) -> None:
    a, *_ = pair
    reader, writer = await asyncio.open_connection("127.0.0.1", a.port, ssl=client_ssl())

    async def talk() -> None:
        # TLS 1.3: the refusal arrives after the client's side of the handshake finished
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        if not await asyncio.wait_for(reader.read(100), 2):
            raise ConnectionError("closed")

    with pytest.raises((ssl.SSLError, ConnectionError)):
        await talk()
    writer.close()


async def test_unknown_ski_waits_pending_until_coupled(pair) -> None:
    a, store_a, rec_a, b, store_b, _rec_b = pair
    a.timers = dataclasses.replace(FAST, pending_max=5.0)
    store_b.trust(a.ski)
    attempt = asyncio.create_task(b.connect("127.0.0.1", a.port, a.ski))
    for _ in range(100):
        if a.pending:
            break
        await asyncio.sleep(0.02)
    assert [c.remote_ski for c in a.pending] == [b.ski]
    assert a.discovered[b.ski].source == "incoming"
    assert b.ski in store_a.discovered
    assert not attempt.done() and a.connections == []

    store_a.trust(b.ski)
    a.approve(b.ski)
    conn = await asyncio.wait_for(attempt, 3)
    assert conn.remote_ski == a.ski
    await asyncio.wait_for(rec_a.connected.wait(), 2)


async def test_unknown_ski_never_coupled_is_refused_after_the_timer(pair) -> None:
    a, store_a, rec_a, b, store_b, _ = pair
    store_b.trust(a.ski)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ShipRejected):
        await b.connect("127.0.0.1", a.port, a.ski)
    assert loop.time() - started >= FAST.pending_max * 0.9
    assert a.connections == [] and rec_a.connections == []
    assert not store_a.is_trusted(b.ski)
    assert b.ski in a.discovered


async def test_pending_peer_is_kept_waiting_by_prolongation() -> None:
    # A keeps B pending up to 3 s although B only waits 2 s: A asks B to prolong.
    a, _store_a, _rec_a = make_node("A", timers=dataclasses.replace(FAST, pending_max=3.5))
    b, _store_b, _ = make_node("B")
    await a.start()
    await b.start()
    try:
        attempt = asyncio.create_task(b.connect("127.0.0.1", a.port, a.ski))
        await asyncio.sleep(2.6)  # past B's own hello timer
        assert not attempt.done()
        a.approve(b.ski)
        conn = await asyncio.wait_for(attempt, 3)
        assert conn.remote_ski == a.ski
    finally:
        await b.stop()
        await a.stop()


async def test_installer_refusal_while_pending(pair) -> None:
    a, _store_a, _, b, _, _ = pair
    a.timers = dataclasses.replace(FAST, pending_max=5.0)
    attempt = asyncio.create_task(b.connect("127.0.0.1", a.port, a.ski))
    await eventually(lambda: bool(a.pending))
    a.decouple(b.ski)
    with pytest.raises(ShipRejected):
        await asyncio.wait_for(attempt, 3)


async def test_decouple_drops_the_live_connection(pair) -> None:
    a, store_a, rec_a, b, _store_b, _rec_b = pair
    store_a.trust(b.ski)
    conn_b = await b.connect("127.0.0.1", a.port, a.ski)
    await asyncio.wait_for(rec_a.connected.wait(), 2)
    store_a.untrust(b.ski)
    a.decouple(b.ski)
    await asyncio.wait_for(conn_b.closed.wait(), 3)
    await asyncio.wait_for(rec_a.connections[0].closed.wait(), 3)
    await eventually(lambda: a.connections == [] and b.connections == [])
    # and a new attempt is no longer trusted: pending, then refused
    with pytest.raises(ShipRejected):
        await b.connect("127.0.0.1", a.port, a.ski)


async def test_ski_mismatch_on_connect_is_refused(pair) -> None:
    a, store_a, rec_a, b, *_ = pair
    store_a.trust(b.ski)
    with pytest.raises(ShipError, match="SKI mismatch"):
        await b.connect("127.0.0.1", a.port, "0" * 40)
    assert rec_a.connections == []


async def test_ship_id_mismatch_for_a_known_ski_is_refused(pair) -> None:
    a, store_a, rec_a, b, *_ = pair
    store_a.trust(b.ski, ship_id="Another-Device")
    try:  # B may finish its side first; A's refusal (close 4450) then drops it at once
        conn = await b.connect("127.0.0.1", a.port, a.ski)
        await asyncio.wait_for(conn.closed.wait(), 2)
    except ShipError:
        pass
    await eventually(lambda: a.connections == [] and b.connections == [])
    assert rec_a.connections == []
    assert store_a.ship_id_for(b.ski) == "Another-Device"


async def test_double_connection_keeps_the_one_initiated_by_the_higher_ski(pair) -> None:
    a, store_a, _rec_a, b, store_b, rec_b = pair
    store_a.trust(b.ski)
    store_b.trust(a.ski)
    first = await a.connect("127.0.0.1", b.port, b.ski)  # initiated by A
    await asyncio.wait_for(rec_b.connected.wait(), 2)
    if b.ski > a.ski:  # the new one (initiated by B) wins; A's goes
        second = await b.connect("127.0.0.1", a.port, a.ski)
        await asyncio.wait_for(first.closed.wait(), 3)
        assert second.complete and b.connections == [second]
    else:  # B's new attempt loses; A's stays
        with pytest.raises(ShipError, match="double connection"):
            await b.connect("127.0.0.1", a.port, a.ski)
        await asyncio.sleep(0.3)
        assert first.complete and a.connections == [first]


async def test_close_handshake_closes_both_sides(pair) -> None:
    a, store_a, rec_a, b, *_ = pair
    store_a.trust(b.ski)
    conn_b = await b.connect("127.0.0.1", a.port, a.ski)
    await asyncio.wait_for(rec_a.connected.wait(), 2)
    await conn_b.close("test over")
    await asyncio.wait_for(rec_a.connections[0].closed.wait(), 2)
    assert conn_b.ws.close_code == 4001
    with pytest.raises(ConnectionError):
        await conn_b.send(DATAGRAM)


def test_rejected_close_code_is_4452() -> None:
    assert CLOSE_REJECTED == 4452
