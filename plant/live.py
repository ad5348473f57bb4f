"""Latest values in Redis and the Channels group names: the one registry of both.

Every process reads and writes live data through these helpers, so key names and group
names are defined exactly once.
"""

from __future__ import annotations

import functools
import json
import logging
import time

import pydantic
import redis
import redis.asyncio as aioredis
from django.conf import settings

from energy import snapshot
from energy.state import PlantState

STATE_TTL_S = 3600

logger = logging.getLogger(__name__)
# Plants whose stored snapshot did not validate: logged once until a valid one arrives.
_invalid_snapshots: set[int] = set()


def group_name(plant_id: int) -> str:
    """Channels group of a plant's live dashboard."""
    return f"plant.{plant_id}"


def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])


def state_key(plant_id: int) -> str:
    return _key("plant", plant_id, "state")


def lock_key(plant_id: int) -> str:
    return _key("plant", plant_id, "cycle-lock")


def config_generation_key() -> str:
    """Counts saved settings (any plant): a worker that sees it change loads its plants' settings
    again before the next cycle (see :mod:`plant.apps`)."""
    return _key("config-generation")


def bump_config_generation() -> None:
    """Tell the workers that settings changed; without Redis they find out within
    ``plant.worker.CONFIG_REFRESH_S``."""
    try:
        sync_redis().incr(config_generation_key())
    except redis.RedisError as exc:
        logger.warning("settings change not announced (Redis): %s", exc)


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


def read_state(plant_id: int) -> PlantState | None:
    """The plant's latest snapshot, through the types of :mod:`energy.state`.

    A stored snapshot that does not validate (written by an older or newer version, or
    damaged) counts as missing: pages then show "waiting", never an error. It is logged once,
    not on every page view, until a valid snapshot replaces it. Redis errors propagate.
    """
    raw = sync_redis().get(state_key(plant_id))
    if not raw:
        return None
    try:
        state = snapshot.from_json(raw)
    except pydantic.ValidationError as exc:
        if plant_id not in _invalid_snapshots:
            _invalid_snapshots.add(plant_id)
            logger.warning("snapshot of plant %s in Redis is not valid, treated as missing: %s", plant_id, exc)
        return None
    _invalid_snapshots.discard(plant_id)
    return state


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

    async def publish(self, state: PlantState) -> None:
        data = snapshot.to_data(state)
        await self._redis.set(state_key(state.plant_id), json.dumps(data), ex=STATE_TTL_S)
        if self._layer is not None:
            await self._layer.group_send(group_name(state.plant_id), {"type": "state.update", "state": data})
