"""Latest values in Redis and the Channels group names: the one registry of both.

Every process reads and writes live data through these helpers, so key names and group
names are defined exactly once. The connection is :mod:`redisconn`'s.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

import redisconn
from energy import snapshot
from energy.state import PlantState

# The snapshot's key and reader live in redisconn.snapshots (the pages of every app read it);
# named here too, so this stays the one list of the live store's keys.
from redisconn.snapshots import STATE_TTL_S as STATE_TTL_S
from redisconn.snapshots import read_state as read_state
from redisconn.snapshots import state_key as state_key

logger = logging.getLogger(__name__)


def group_name(plant_id: int) -> str:
    """Channels group of a plant's live dashboard."""
    return f"plant.{plant_id}"


def lock_key(plant_id: int) -> str:
    return redisconn.key("plant", plant_id, "cycle-lock")


def config_generation_key(plant_id: int | None = None) -> str:
    """Counts saved settings: of one plant, or (``None``) of every plant at once (a restored
    backup, a factory reset). A worker that sees either change loads that plant's settings again
    before its next cycle (see :mod:`plant.apps`)."""
    if plant_id is None:
        return redisconn.key("config-generation")
    return redisconn.key("plant", plant_id, "config-generation")


# Set while nothing runs that could listen (the bootstrap before the stack starts).
_unannounced: contextvars.ContextVar[bool] = contextvars.ContextVar("unannounced", default=False)
_announce_failing = False


@contextmanager
def unannounced() -> Iterator[None]:
    """Settings saved inside this block are not announced: for the bootstrap, which runs before
    Redis and the workers (they load every setting when they start)."""
    token = _unannounced.set(True)
    try:
        yield
    finally:
        _unannounced.reset(token)


def announcing() -> bool:
    """False inside :func:`unannounced`: a save there is nobody's news."""
    return not _unannounced.get()


def bump_config_generation(plant_id: int | None = None) -> None:
    """Tell the workers that the plant's settings (``None``: every plant's) changed. A worker
    that could not read Redis meanwhile reloads its plants when Redis answers again; the rest
    find out within ``plant.worker.CONFIG_REFRESH_S``. A Redis outage is logged once, not once
    per save."""
    global _announce_failing
    try:
        redisconn.sync_redis().incr(config_generation_key(plant_id))
    except redis.RedisError as exc:
        if not _announce_failing:
            logger.warning(
                "settings change not announced (Redis): %s; the workers reload their settings on their own within seconds",
                exc,
            )
        _announce_failing = True
    else:
        _announce_failing = False


def beat_key() -> str:
    return redisconn.key("beat", "last-tick")


def mark_tick() -> None:
    redisconn.sync_redis().set(beat_key(), repr(time.time()), ex=STATE_TTL_S)


def last_tick_age_s() -> float | None:
    raw = redisconn.sync_redis().get(beat_key())
    return time.time() - float(raw) if raw else None


class RedisPublisher:
    """Publishes snapshots from the device event loop: latest value plus websocket group."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        self._redis = redisconn.async_redis()
        self._layer = get_channel_layer()

    async def publish(self, state: PlantState) -> None:
        data = snapshot.to_data(state)
        await self._redis.set(state_key(state.plant_id), json.dumps(data), ex=STATE_TTL_S)
        if self._layer is not None:
            await self._layer.group_send(group_name(state.plant_id), {"type": "state.update", "state": data})
