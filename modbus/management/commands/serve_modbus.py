"""``manage.py serve_modbus``: the product as a Modbus meter (MB-1..MB-4), its own process.

Serves the latest snapshot of the served plant over Modbus TCP (``KSEM_MODBUS_PORT``, 5020
here, 502 in a real installation), over TLS (``KSEM_MODBUS_TLS_PORT``, 8020 / 802) when
encryption is on, and on the RS485 interfaces in slave mode (``KSEM_RS485_A`` /
``KSEM_RS485_B`` give their default devices); pushes to the Modbus TCP master targets. Every
setting of the Modbus page applies within a second, without a restart. The connection limits
come from ``KSEM_MODBUS_MAX_CONNECTIONS``, ``KSEM_MODBUS_MAX_PER_ADDRESS``,
``KSEM_MODBUS_IDLE_TIMEOUT_S`` and ``KSEM_MODBUS_REQUEST_TIMEOUT_S``.

SIGTERM or SIGINT stops it within ``STOP_WITHIN_S`` seconds, always: every wait of the shutdown
is bounded (a cancelled task that does not end is left behind, a worker thread still blocked in
the database or Redis is not waited for), and a watchdog thread started by the signal ends the
process if the event loop itself is stuck.
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

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from modbus import services
from modbus.slave.server import ModbusSlave
from modbus.slave.tcp import ConnectionLimits

log = logging.getLogger("modbus.serve")

STOP_WITHIN_S = 4.5  # from the signal to the end of the process, at the very latest
SLAVE_STOP_S = 3.0  # the slave's own stop (ports, tasks, master)
LEFTOVER_S = 0.5  # remaining tasks and worker threads after that


class Command(BaseCommand):
    help = "Serve the plant's measurements as a Modbus TCP/TLS/RTU slave and push them to Modbus TCP targets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the LAN)")
        parser.add_argument("--port", type=int, default=settings.MODBUS_PORT, help="Modbus TCP port")
        parser.add_argument("--tls-port", type=int, default=settings.MODBUS_TLS_PORT, help="Modbus TCP over TLS port")

    def handle(self, *args: Any, **options: Any) -> None:
        limits = ConnectionLimits(
            max_connections=settings.MODBUS_MAX_CONNECTIONS,
            max_per_address=settings.MODBUS_MAX_PER_ADDRESS,
            idle_timeout_s=settings.MODBUS_IDLE_TIMEOUT_S,
            request_timeout_s=settings.MODBUS_REQUEST_TIMEOUT_S,
        )
        slave = ModbusSlave(
            services.ServiceBackend(),
            host=options["host"],
            tcp_port=options["port"],
            tls_port=options["tls_port"],
            tls_dir=services.tls_dir(),
            max_age_s=settings.HEALTH_MAX_AGE_S,
            limits=limits,
        )
        run(slave)


class _Watchdog:
    """Ends the process ``seconds`` after the first stop signal unless it has ended by then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error("serve_modbus did not stop within %g s of the signal; ending it now", self.seconds)
        _exit(1)


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run(slave: ModbusSlave) -> None:
    """Serve until SIGTERM/SIGINT, then stop within ``STOP_WITHIN_S``.

    Not ``asyncio.run``: its clean-up awaits every cancelled task and joins every worker thread
    without a bound, so one task that swallows its cancellation or one thread blocked in a
    database call keeps the process alive after SIGTERM."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    watchdog = _Watchdog(STOP_WITHIN_S)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A Python-level handler runs even while the loop is blocked in a call; the watchdog
        # then guarantees the bound, the event starts the orderly stop.
        watchdog.start()
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            loop.run_until_complete(_serve(slave, stop))
        finally:
            clean = _finish(loop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not clean:
        log.warning("serve_modbus stopped, leaving blocked work behind")
        _exit(0)  # the interpreter would join the blocked worker threads without a bound
    loop.close()
    log.info("serve_modbus stopped")


async def _serve(slave: ModbusSlave, stop: asyncio.Event) -> None:
    starting = asyncio.create_task(slave.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done():
        starting.result()  # a failed start ends the command with its error
        log.info("serve_modbus running (TCP %s, TLS %s)", slave.tcp_port, slave.tls_port)
        await stopped
    else:
        starting.cancel()
    log.info("serve_modbus stopping")
    stopping = asyncio.create_task(slave.stop())
    _, pending = await asyncio.wait({stopping}, timeout=SLAVE_STOP_S)
    if pending:
        log.warning("serve_modbus: the slave did not stop within %g s", SLAVE_STOP_S)


def _finish(loop: asyncio.AbstractEventLoop) -> bool:
    """Cancel what is left and release the worker threads, each wait bounded. True if clean."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    clean = True
    if tasks:
        _, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=LEFTOVER_S))
        if pending:
            log.warning("serve_modbus: %d task(s) ignored their cancellation", len(pending))
            clean = False
    closing = [
        loop.create_task(loop.shutdown_asyncgens()),
        loop.create_task(loop.shutdown_default_executor()),
    ]
    _, pending = loop.run_until_complete(asyncio.wait(closing, timeout=LEFTOVER_S))
    if pending:
        log.warning("serve_modbus: worker threads still busy (a database or Redis call)")
        clean = False
    return clean
