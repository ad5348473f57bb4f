"""The plant's latest snapshot in Redis: its key and how it is read back.

Written by the cycle (``plant.live.RedisPublisher``), read by every page, the API and the Modbus
slave; it lives down here so that the pages of every app can read it without importing plant/.
"""

from __future__ import annotations

import logging

import pydantic

from energy import snapshot
from energy.state import PlantState
from redisconn import key, sync_redis

STATE_TTL_S = 3600

logger = logging.getLogger(__name__)
# Plants whose stored snapshot did not validate: logged once until a valid one arrives.
_invalid_snapshots: set[int] = set()


def state_key(plant_id: int) -> str:
    return key("plant", plant_id, "state")


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
