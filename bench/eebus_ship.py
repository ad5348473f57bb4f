"""SHIP handshake time between two nodes on loopback.

Two ``ShipNode``s that trust each other; the client dials 30 times in a row. Measured per connection:
from opening the TCP connection to ``connect()`` returning (TLS, WebSocket upgrade, CMI, hello,
protocol handshake, PIN state, access methods all done), and the round trip of one SPINE message
afterwards. Each connection is closed with the SHIP close handshake before the next one.

    python -m bench.eebus_ship [--connections 30]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import summary, write_result
from smartgrid.ship import ConnectionClosed, MemoryTrustStore, ShipConnection, ShipNode
from smartgrid.ship.identity import ephemeral_identity

DEVICE = {"brand": "Bench", "model": "Node", "type": "EnergyManagementSystem", "serial": "1", "categories": [2]}
PING = {"datagram": {"header": {"specificationVersion": "1.3.0", "msgCounter": 1, "cmdClassifier": "read"}}}


SERVED: list[ShipConnection] = []


async def echo(conn: ShipConnection) -> None:
    SERVED.append(conn)
    try:
        while True:
            await conn.send(await conn.recv())
    except ConnectionClosed:
        return


async def idle(conn: ShipConnection) -> None:
    await conn.closed.wait()


async def run(connections: int) -> dict[str, object]:
    server_id, client_id = ephemeral_identity("Bench-Server"), ephemeral_identity("Bench-Client")
    server = ShipNode(
        server_id,
        MemoryTrustStore({client_id.ski: None}),
        host="127.0.0.1",
        port=0,
        device=DEVICE,
        on_connection=echo,
        mdns=False,
    )
    client = ShipNode(
        client_id,
        MemoryTrustStore({server_id.ski: None}),
        host="127.0.0.1",
        port=0,
        device=DEVICE,
        on_connection=idle,
        mdns=False,
    )
    await server.start()
    await client.start()
    handshakes, round_trips, tls = [], [], ""
    try:
        for _ in range(connections):
            started = time.perf_counter()
            conn = await client.connect("127.0.0.1", server.port, server_id.ski)
            handshakes.append((time.perf_counter() - started) * 1000)
            tls = conn.ws.tls.tls_version
            sent = time.perf_counter()
            await conn.send(PING)
            await conn.recv()
            round_trips.append((time.perf_counter() - sent) * 1000)
            await conn.close("bench")
            await asyncio.wait_for(SERVED[-1].closed.wait(), 5)
    finally:
        await client.stop()
        await server.stop()
    hs = summary(handshakes)
    return {
        "connections": connections,
        "tls": tls,
        "p50_ms": hs["p50"],
        "p99_ms": hs["p99"],
        "handshake_ms": hs,
        "spine_round_trip_ms": summary(round_trips),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=30)
    args = parser.parse_args()
    figures = asyncio.run(run(args.connections))
    write_result("eebus_ship", figures, {"p99_ms": "<= 500 (TLS + SHIP handshake on loopback)"})


if __name__ == "__main__":
    main()
