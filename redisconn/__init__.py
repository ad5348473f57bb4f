"""The one way every process reaches Redis: the connection helpers and the key prefix.

Low on purpose: it needs only ``settings.REDIS_URL`` and ``settings.REDIS_KEY_PREFIX`` (no app),
so every package that keeps something in Redis, from the portal's login guard up to the cycle,
uses the same clients. Each caller keeps its own timeout (the cycle's Modbus mirror waits a
quarter second at most, pages two seconds); a client is made once per timeout and process.
"""

from __future__ import annotations

import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings

DEFAULT_TIMEOUT_S = 2.0


def key(*parts: object) -> str:
    """A key under this installation's prefix (``settings.REDIS_KEY_PREFIX``): ``<prefix>:a:b``."""
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])


def connect(timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """A new client of the caller's own, waiting at most ``timeout_s`` to connect and per command."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


@functools.cache
def sync_redis(timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """This process's shared client for ``timeout_s`` (made on first use; ``sync_redis.cache_clear()``
    forgets them all, e.g. after ``settings.REDIS_URL`` changed in a test)."""
    return connect(timeout_s)


def async_redis(timeout_s: float = DEFAULT_TIMEOUT_S) -> aioredis.Redis:
    """A client for the calling event loop (redis.asyncio clients are bound to one loop)."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
