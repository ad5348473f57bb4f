"""``manage.py serve_eebus``: the plants as EEBus controllable systems (SG-1..SG-4), its own process.

One SHIP server per plant (the first on ``KSEM_EEBUS_PORT``, 4711; the next plants on the ports
after it), announced over mDNS (``KSEM_EEBUS_MDNS``), each SKI's connections served with SPINE on
the plant's limits and measurements; see ``smartgrid.eebus.service``. Trust, discoveries and the
connection state live in the database, so the connections page, the API and ``manage.py eebus``
act on the running service within a second.

SIGTERM or SIGINT closes the connections (SHIP close) and stops within ``STOP_WITHIN_S`` seconds,
always: a watchdog thread ends the process if the orderly stop hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from smartgrid.eebus.service import EebusService, Endpoint

log = logging.getLogger("smartgrid.eebus")

STOP_WITHIN_S = 6.0


def parse_interfaces(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


class Command(BaseCommand):
    help = "Serve every plant as an EEBus controllable system (SHIP server, mDNS, SPINE LPC/LPP)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.EEBUS_HOST, help="address to listen on (default %(default)s)")
        parser.add_argument(
            "--port", type=int, default=settings.EEBUS_PORT, help="SHIP port of the first plant (default %(default)s)"
        )
        parser.add_argument("--plant", type=int, action="append", help="serve only this plant (repeatable)")
        parser.add_argument(
            "--no-mdns", action="store_true", default=not settings.EEBUS_MDNS, help="no mDNS announce and browse"
        )
        parser.add_argument(
            "--mdns-interfaces",
            default=os.environ.get("KSEM_EEBUS_MDNS_INTERFACES", ""),
            help="comma-separated addresses to announce on (default: all)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["port"] <= 65535:
            raise CommandError(f"--port {options['port']} is not between 1 and 65535")
        plants = apps.get_model("plant", "Plant").objects.order_by("pk")
        if options["plant"]:
            plants = plants.filter(pk__in=options["plant"])
        plant_ids = list(plants.values_list("pk", flat=True))
        if not plant_ids:
            raise CommandError("no plant to serve: run `manage.py bootstrap` first")
        interfaces = parse_interfaces(options["mdns_interfaces"])
        if interfaces is None and options["host"] in ("127.0.0.1", "localhost", "::1"):
            interfaces = ["127.0.0.1"]  # a loopback-only service announces itself on loopback only
        endpoints = [
            Endpoint(
                plant_id=plant_id,
                port=options["port"] + index,
                host=options["host"],
                mdns=not options["no_mdns"],
                mdns_interfaces=interfaces,
            )
            for index, plant_id in enumerate(plant_ids)
        ]
        run(EebusService(endpoints))


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _expire() -> None:
    log.error("serve_eebus did not stop within %g s of the signal; ending it now", STOP_WITHIN_S)
    _exit(1)


def run(service: EebusService) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    timer: list[threading.Timer] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not timer:
            watchdog = threading.Timer(STOP_WITHIN_S, _expire)
            watchdog.daemon = True
            watchdog.start()
            timer.append(watchdog)
        loop.call_soon_threadsafe(stop.set)

    async def started() -> None:
        for endpoint in service.endpoints:
            print(f"serve_eebus: plant {endpoint.plant_id} on SHIP port {endpoint.node.port}", flush=True)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop.run_until_complete(service.run(stop, started))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=0.5))
    _exit(0)
