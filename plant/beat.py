"""One beat at a time: a second ``celery beat`` (a stand-by, a mistake) sends nothing.

The beat that holds ``beat:leader`` in Redis (``SET NX PX``, renewed at every scheduler tick,
value ``host:pid``) sends the schedule; any other waits and takes over within ``LEADER_TTL_MS``
of the leader's last renewal (it died, or lost Redis). Celery's own scheduler does the rest.
"""

from __future__ import annotations

import logging

import redis
from celery.beat import PersistentScheduler

import redisconn
from plant import fleet

log = logging.getLogger(__name__)

LEADER_TTL_MS = 3000
STANDBY_POLL_S = 1.0


def leader_key() -> str:
    return redisconn.key("beat", "leader")


def is_leader(client: redis.Redis | None = None) -> bool:
    """Renew this process's leadership, or take it when free."""
    client = client or redisconn.sync_redis()
    return bool(client.eval(fleet.ACQUIRE_SCRIPT, 1, leader_key(), fleet.owner_id(), LEADER_TTL_MS))


class LeaderScheduler(PersistentScheduler):
    """Celery's persistent scheduler, sending only while this beat is the leader."""

    _leading: bool | None = None

    def tick(self, *args: object, **kwargs: object) -> float:
        try:
            leading = is_leader()
        except redis.RedisError as exc:
            # Without Redis no worker gets a task anyway; try again shortly.
            log.warning("beat: leadership not checked (Redis): %s", exc)
            leading = False
        if leading != self._leading:
            log.warning("beat: %s", "leading, sending the schedule" if leading else "stand-by, another beat leads")
            self._leading = leading
        if not leading:
            return STANDBY_POLL_S
        return float(super().tick(*args, **kwargs))  # type: ignore[arg-type]
