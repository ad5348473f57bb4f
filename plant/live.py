"""Latest values in Redis and the Channels group names: the one registry of both.

Every process reads and writes live data through these helpers, so key names and group
names are defined exactly once.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

STATE_TTL_S = 3600


def group_name(plant_id: int) -> str:
    """Channels group of a plant's live dashboard."""
    return f"plant.{plant_id}"


def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])


def state_key(plant_id: int) -> str:
    return _key("plant", plant_id, "state")


def lock_key(plant_id: int) -> str:
    return _key("plant", plant_id, "cycle-lock")


def beat_key() -> str:
    return _key("beat", "last-tick")


def login_failures_key(client: str) -> str:
    return _key("login-failures", client)


@functools.cache
def sync_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2.0, socket_connect_timeout=2.0)


def async_redis() -> aioredis.Redis:
    """A client for the calling event loop (redis.asyncio clients are bound to one loop)."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2.0, socket_connect_timeout=2.0)


def read_state(plant_id: int) -> dict[str, Any] | None:
    raw = sync_redis().get(state_key(plant_id))
    return json.loads(raw) if raw else None


def mark_tick() -> None:
    sync_redis().set(beat_key(), repr(time.time()), ex=STATE_TTL_S)


def last_tick_age_s() -> float | None:
    raw = sync_redis().get(beat_key())
    return time.time() - float(raw) if raw else None


class RedisPublisher:
    """Publishes snapshots from the device event loop: latest value plus websocket group."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        self._redis = async_redis()
        self._layer = get_channel_layer()

    async def publish(self, state: Any) -> None:
        data = state.as_dict()
        await self._redis.set(state_key(state.plant_id), json.dumps(data), ex=STATE_TTL_S)
        if self._layer is not None:
            await self._layer.group_send(group_name(state.plant_id), {"type": "state.update", "state": data})
