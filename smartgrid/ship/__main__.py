"""A SHIP node at the console, for coupling by hand with another EEBus implementation.

    python -m smartgrid.ship --state var/ship-dev --port 4711 --trust <peer SKI> [--connect HOST:PORT:SKI]
        [--mdns-interface 127.0.0.1] [--seconds 60]

Prints the own SKI, announces ``_ship._tcp`` (unless ``--no-mdns``), accepts the trusted SKIs,
optionally dials a peer, and logs every connection and the SPINE messages it receives. It answers
no SPINE itself: it checks the transport only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal

from .connection import ShipConnection
from .frames import ConnectionClosed, ShipError
from .identity import load_or_create_identity, normalize_ski
from .node import ShipNode
from .trust import MemoryTrustStore

log = logging.getLogger("smartgrid.ship.cli")


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m smartgrid.ship", description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="folder for the certificate, key and SHIP ID")
    parser.add_argument("--ship-id", default="KSEM-Dev-1", help="SHIP ID used when the identity is created")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=4711)
    parser.add_argument("--trust", action="append", default=[], metavar="SKI")
    parser.add_argument("--connect", action="append", default=[], metavar="HOST:PORT:SKI")
    parser.add_argument("--mdns-interface", action="append", default=None, metavar="IP")
    parser.add_argument("--no-mdns", action="store_true")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    parser.add_argument(
        "--approve-after", type=float, default=None, metavar="S", help="couple every SKI kept pending after S seconds"
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    identity = load_or_create_identity(args.state, ship_id=args.ship_id, common_name=args.ship_id, organization="Dev")
    print(f"Local SKI: {identity.ski}", flush=True)
    print(f"SHIP ID: {identity.ship_id}", flush=True)
    store = MemoryTrustStore({normalize_ski(s): None for s in args.trust})

    async def on_connection(conn: ShipConnection) -> None:
        print(f"CONNECTED {conn.role} ski={conn.remote_ski} ship_id={conn.remote_ship_id}", flush=True)
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await conn.recv()
                print(f"SPINE <- {json.dumps(message)[:300]}", flush=True)
        print(f"CLOSED ski={conn.remote_ski}: {conn.close_reason}", flush=True)

    device = {"brand": "Dev", "model": "ShipNode", "type": "EnergyManagementSystem", "serial": "1", "categories": [2]}
    node = ShipNode(
        identity,
        store,
        host=args.host,
        port=args.port,
        device=device,
        on_connection=on_connection,
        mdns=not args.no_mdns,
        mdns_interfaces=args.mdns_interface,
    )
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for target in args.connect:
        host, port, ski = target.rsplit(":", 2)
        try:
            await node.connect(host, int(port), ski)
        except ShipError as exc:
            print(f"CONNECT FAILED {target}: {exc}", flush=True)
    if args.approve_after is not None:

        async def approve_later() -> None:
            await asyncio.sleep(args.approve_after)
            for conn in node.pending:
                print(f"APPROVING {conn.remote_ski}", flush=True)
                store.trust(conn.remote_ski)
                node.approve(conn.remote_ski)

        approver = asyncio.create_task(approve_later())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.seconds or None)
    if args.approve_after is not None:
        approver.cancel()
    for service in node.discovered.values():
        print(f"DISCOVERED {service.ski} {service.host}:{service.port} {service.txt}", flush=True)
    await node.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(_parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
