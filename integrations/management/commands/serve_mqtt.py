"""``manage.py serve_mqtt``: the MQTT bridge (docs/mqtt.md), its own process.

Publishes every active plant's snapshot to the broker of the MQTT settings (or ``KSEM_MQTT_URL``)
with Home Assistant discovery, and takes wallbox commands back. Settings apply within
``--reload`` seconds without a restart. SIGTERM or SIGINT: ``offline`` on the availability
topic, then exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from typing import Any

from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from integrations import services
from integrations.bridge import Bridge, Hooks
from plant.live import group_name
from redisconn import sync_redis
from redisconn.snapshots import state_key

log = logging.getLogger("integrations.mqtt")


def read_state_data(plant_id: int) -> dict[str, Any] | None:
    raw = sync_redis().get(state_key(plant_id))
    if not raw:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


def hooks() -> Hooks:
    return Hooks(
        load_config=services.broker_config,
        plants=services.active_plants,
        read_state=read_state_data,
        settings_topics=services.wallbox_settings_topics,
        apply_command=services.apply_command,
        write_status=services.write_status,
        group_name=group_name,
        close_db=close_old_connections,
    )


class Command(BaseCommand):
    help = "Publish the plants' live values to an MQTT broker (Home Assistant discovery) and take commands back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reload", type=float, default=2.0, help="seconds between settings checks")

    def handle(self, *args: Any, **options: Any) -> None:
        bridge = Bridge(hooks(), get_channel_layer(), reload_s=options["reload"])
        asyncio.run(_serve(bridge))


async def _serve(bridge: Bridge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("serve_mqtt: started")
    await bridge.run(stop)
    log.info("serve_mqtt: stopped")
