"""``manage.py serve_modbus``: the product as a Modbus meter (MB-1..MB-4), its own process.

Serves the latest snapshot of the served plant over Modbus TCP (``KSEM_MODBUS_PORT``, 5020
here, 502 in a real installation), over TLS (``KSEM_MODBUS_TLS_PORT``, 8020 / 802) when
encryption is on, and on the RS485 interfaces in slave mode (``KSEM_RS485_A`` /
``KSEM_RS485_B`` give their default devices); pushes to the Modbus TCP master targets. Every
setting of the Modbus page applies within a second, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from modbus import services
from modbus.slave.server import ModbusSlave

log = logging.getLogger("modbus.serve")


class Command(BaseCommand):
    help = "Serve the plant's measurements as a Modbus TCP/TLS/RTU slave and push them to Modbus TCP targets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the LAN)")
        parser.add_argument("--port", type=int, default=settings.MODBUS_PORT, help="Modbus TCP port")
        parser.add_argument("--tls-port", type=int, default=settings.MODBUS_TLS_PORT, help="Modbus TCP over TLS port")

    def handle(self, *args: Any, **options: Any) -> None:
        slave = ModbusSlave(
            services.ServiceBackend(),
            host=options["host"],
            tcp_port=options["port"],
            tls_port=options["tls_port"],
            tls_dir=services.tls_dir(),
            max_age_s=settings.HEALTH_MAX_AGE_S,
        )
        asyncio.run(self._serve(slave))

    async def _serve(self, slave: ModbusSlave) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await slave.start()
        log.info("serve_modbus running (TCP %s, TLS %s)", slave.tcp_port, slave.tls_port)
        await stop.wait()
        log.info("serve_modbus stopping")
        await slave.stop()
