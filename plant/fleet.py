"""Many workers, one owner per plant: the worker registry, the routing and the plant leases.

Celery stays the distributed engine (docs/operations.md, "Many workers"); this module only
decides *which* worker's queue a plant's cycle goes to, and makes sure a worker drives a plant's
devices only while it holds the plant's lease:

* **registry**: every worker process announces itself each second (``HEARTBEAT_S``) under its
  Celery node name with the queue of its own (``realtime.<node name>``), for ``WORKER_TTL_MS``;
  a worker that stops announcing itself drops out of the live set within that time.
* **routing**: ``tick`` sends each plant's cycle to the queue of the live worker that rendezvous
  hashing (highest random weight) picks for the plant id. Adding or removing a worker moves only
  the plants that worker wins or held; without a live worker the cycle goes to the shared
  ``realtime`` queue (one worker, tests, a fresh start).
* **lease**: a worker drives a plant only while it holds ``plant:<id>:lease`` (``SET NX PX``,
  value ``host:pid``), renewed by every cycle and every heartbeat for ``LEASE_TTL_MS``. A worker
  that does not hold it, or that the rendezvous no longer picks, closes the plant's runtime (its
  device connections) and only then releases the lease, so the next owner connects after the
  last one let go. A worker killed outright leaves its lease to expire (``LEASE_TTL_MS``).

Pure parts (:func:`owner_of`) are tested table-driven; the rest needs a Redis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import redis
from redis.commands.core import Script

import redisconn
from energy.averaging import INTERVAL, IntervalAverager, interval_start

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
WORKER_TTL_MS = 2500  # a worker silent for this long is gone; its plants are routed to others
LEASE_TTL_MS = 2500  # a dead worker's plants are free again after this
SHARED_QUEUE = "realtime"
QUEUE_PREFIX = "realtime."


def _lease_lua(when_held: str) -> str:
    """Lua: renew our own lease ``KEYS[1]`` (``ARGV[1]`` the owner, ``ARGV[2]`` its ms), or take a
    free one; ``when_held`` runs when another owner holds it (``holder`` is theirs)."""
    return f"""
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2])
elseif not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
else {when_held} end
"""


# Renew our own lease, or take a free one; 0 when another owner holds it.
ACQUIRE_SCRIPT = _lease_lua("return 0") + "return 1"
# Compare-and-delete: only the holder of ``ARGV[1]`` drops ``KEYS[1]`` (a lease, a cycle lock).
COMPARE_AND_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Before a cycle, in one round trip: the lease as ACQUIRE_SCRIPT has it, then the cycle lock
# ``KEYS[2]`` (token ``ARGV[3]``, ``ARGV[4]`` ms), then the cycle's start in the dispatch order
# ``KEYS[3]`` (member ``ARGV[5]``, the plant id, score ``ARGV[6]``, the time), then the values of
# ``KEYS[4:]``. Replies {NOT_OURS, lease holder}, {LOCKED, lock holder} or {BEGUN, *values} (''
# for no value).
_BEGIN_CYCLE = (
    _lease_lua("return {0, holder}")
    + """
if not redis.call('set', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {1, redis.call('get', KEYS[2]) or ''}
end
redis.call('zadd', KEYS[3], ARGV[6], ARGV[5])
local values = {2}
for i = 4, #KEYS do values[i - 2] = redis.call('get', KEYS[i]) or '' end
return values
"""
)
NOT_OURS, LOCKED, BEGUN = 0, 1, 2


def owner_id() -> str:
    """Who holds a lease: this process, as ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def queue_of(worker_name: str) -> str:
    """The realtime queue only this worker consumes."""
    return QUEUE_PREFIX + worker_name


def lease_key(plant_id: int) -> str:
    return redisconn.key("plant", plant_id, "lease")


def _workers_key() -> str:
    return redisconn.key("fleet", "workers")


def _worker_key(name: str) -> str:
    return redisconn.key("fleet", "worker", name)


def _weight(worker_name: str, plant_id: int) -> bytes:
    return hashlib.blake2b(f"{worker_name}\x00{plant_id}".encode(), digest_size=8).digest()


def owner_of(plant_id: int, workers: Iterable[str]) -> str | None:
    """The worker the rendezvous hash picks for the plant among ``workers`` (None without any).

    Stable: the same plant and set always give the same worker, on every machine; a worker
    joining takes only the plants it now wins, a worker leaving gives away only its own."""
    return max(workers, key=lambda name: _weight(name, plant_id), default=None)


# --- the registry ------------------------------------------------------------------------------------
def register(name: str, client: redis.Redis | None = None) -> None:
    """Announce this worker as alive for ``WORKER_TTL_MS``."""
    client = client or redisconn.sync_redis()
    pipe = client.pipeline(transaction=False)
    pipe.set(_worker_key(name), owner_id(), px=WORKER_TTL_MS)
    pipe.sadd(_workers_key(), name)
    pipe.execute()


def unregister(name: str, client: redis.Redis | None = None) -> None:
    client = client or redisconn.sync_redis()
    pipe = client.pipeline(transaction=False)
    pipe.delete(_worker_key(name))
    pipe.srem(_workers_key(), name)
    pipe.execute()


def live_workers(client: redis.Redis | None = None) -> list[str]:
    """The names of the workers that announced themselves within ``WORKER_TTL_MS`` (sorted); the
    names of workers gone for good are dropped from the set."""
    client = client or redisconn.sync_redis()
    names = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in client.smembers(_workers_key()))
    if not names:
        return []
    alive = client.mget([_worker_key(name) for name in names])
    gone = [name for name, value in zip(names, alive, strict=True) if value is None]
    if gone:
        client.srem(_workers_key(), *gone)
    return [name for name, value in zip(names, alive, strict=True) if value is not None]


def route(plant_ids: Iterable[int], workers: list[str]) -> dict[int, str]:
    """{plant id: the queue its cycle goes to}."""
    return {
        plant_id: queue_of(owner) if (owner := owner_of(plant_id, workers)) else SHARED_QUEUE for plant_id in plant_ids
    }


# --- leases ------------------------------------------------------------------------------------------
def acquire(plant_id: int, client: redis.Redis | None = None) -> bool:
    """Renew this process's lease of the plant, or take it when free."""
    client = client or redisconn.sync_redis()
    return bool(client.eval(ACQUIRE_SCRIPT, 1, lease_key(plant_id), owner_id(), LEASE_TTL_MS))


def release(plant_id: int, client: redis.Redis | None = None) -> None:
    client = client or redisconn.sync_redis()
    client.eval(COMPARE_AND_DELETE, 1, lease_key(plant_id), owner_id())


@functools.cache
def script(source: str) -> Script:
    """``source`` as a script run by its hash (EVALSHA); the client comes with each call."""
    # Bytes: no client (for its encoder) is needed to hash it.
    return Script(None, source.encode())  # type: ignore[arg-type]


def begin_cycle(
    plant_id: int, lock_key: str, token: str, lock_ttl_ms: int, read_keys: list[str], client: redis.Redis
) -> list[Any]:
    """Renew (or take) the plant's lease, take its cycle lock ``lock_key`` with ``token``, and
    read ``read_keys``, in one round trip; the reply as described at ``_BEGIN_CYCLE``."""
    keys = [lease_key(plant_id), lock_key, _started_key(), *read_keys]
    args: list[str | int] = [owner_id(), LEASE_TTL_MS, token, lock_ttl_ms, plant_id, repr(time.time())]
    return script(_BEGIN_CYCLE)(keys, args, client=client)


# --- the order of the fan-out --------------------------------------------------------------------------
# Every cycle that begins notes when (a sorted set: plant id by start time). ``tick`` sends the
# plants in the order their last cycles began, so a plant keeps its place within the second from
# one tick to the next (its cycles stay 1 s apart, however long the fan-out takes), and a plant
# whose cycle was dropped (its task expired on a worker that could not keep up) or that is new
# goes first next time: the drops of an overloaded worker spread over its plants.


def _started_key() -> str:
    return redisconn.key("fleet", "cycle-started")


def order_by_last_start(plant_ids: Iterable[int], started: dict[int, float]) -> list[int]:
    """``plant_ids`` in fan-out order: those never started first (by id), then by the time their
    last cycle began, earliest first (ties by id)."""
    return sorted(plant_ids, key=lambda plant_id: (plant_id in started, started.get(plant_id, 0.0), plant_id))


def dispatch_order(plant_ids: list[int], client: redis.Redis) -> list[int]:
    """The fan-out order of ``plant_ids`` (:func:`order_by_last_start`) from Redis; plants no
    longer active leave the record. On a Redis error the given order."""
    try:
        recorded = cast(list[tuple[bytes, float]], client.zrange(_started_key(), 0, -1, withscores=True))
        started = {int(member): float(score) for member, score in recorded}
        gone = set(started) - set(plant_ids)
        if gone:
            client.zrem(_started_key(), *gone)
    except (redis.RedisError, ValueError) as exc:
        log.warning("fan-out order not read (Redis): %s", exc)
        return list(plant_ids)
    return order_by_last_start(plant_ids, started)


def holder(plant_id: int, client: redis.Redis | None = None) -> str | None:
    value = (client or redisconn.sync_redis()).get(lease_key(plant_id))
    return value.decode() if isinstance(value, bytes) else value


# --- what a plant's next owner carries on ------------------------------------------------------------
# The 5-minute interval a worker was averaging when it gave the plant up waits this long for the
# next owner (who takes it with its first cycle); a plant nobody takes drops it.
INTERVAL_PARK_MS = 600_000


def _interval_key(plant_id: int) -> str:
    return redisconn.key("plant", plant_id, "interval")


def park_interval(plant_id: int, averager: IntervalAverager) -> None:
    """Leave the interval in progress for the plant's next owner (never raises: at worst the next
    owner starts the interval afresh and writes it with the samples it saw)."""
    data = averager.to_dict()
    if data is None:
        return
    try:
        redisconn.sync_redis().set(_interval_key(plant_id), json.dumps(data), px=INTERVAL_PARK_MS)
    except redis.RedisError as exc:
        log.warning("plant %s: interval in progress not handed on (Redis): %s", plant_id, exc)


def take_interval(plant_id: int, now: dt.datetime) -> IntervalAverager:
    """The interval the plant's previous owner was averaging, if it is this one or the one just
    ended (the first cycle then writes it whole); else a fresh averager."""
    try:
        raw = redisconn.sync_redis().getdel(_interval_key(plant_id))
        parked = IntervalAverager.from_dict(json.loads(raw)) if raw else None
    except (redis.RedisError, ValueError, KeyError, TypeError) as exc:
        log.warning("plant %s: interval in progress not taken over: %s", plant_id, exc)
        parked = None
    if parked is not None and parked.start is not None and parked.start >= interval_start(now) - INTERVAL:
        return parked
    return IntervalAverager()


# --- this worker -------------------------------------------------------------------------------------
class Membership:
    """This worker process in the fleet: its name, the live set it last saw, its heartbeat thread.

    ``running`` lists the plants whose runtime this process holds; ``drop`` closes one (and must
    return only once its device connections are closed)."""

    def __init__(self, name: str, running: Callable[[], list[int]], drop: Callable[[int], None]) -> None:
        self.name = name
        self._running = running
        self._drop = drop
        self._live: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> list[str]:
        return self._live

    def owns(self, plant_id: int) -> bool:
        """Whether the rendezvous picks this worker for the plant (true while it does not see
        itself among the live workers: then the lease alone decides)."""
        live = self._live
        return self.name not in live or owner_of(plant_id, live) == self.name

    def may_drive(self, plant_id: int) -> bool:
        """Whether this worker may cycle the plant now: the rendezvous picks it and it holds the
        lease (renewed, or taken when free)."""
        return self.owns(plant_id) and acquire(plant_id)

    def beat(self) -> None:
        """One heartbeat: announce, see who is alive, renew the leases of the plants held, and
        give up those that are no longer this worker's."""
        client = redisconn.sync_redis()
        register(self.name, client)
        self._live = live_workers(client)
        running = self._running()
        mine = {plant_id: self.owns(plant_id) for plant_id in running}
        # The leases of the plants still ours, renewed in one round trip.
        pipe = client.pipeline(transaction=False)
        for plant_id in running:
            if mine[plant_id]:
                pipe.eval(ACQUIRE_SCRIPT, 1, lease_key(plant_id), owner_id(), LEASE_TTL_MS)
        renewed = iter(pipe.execute())
        for plant_id in running:
            if not mine[plant_id]:
                self.give_up(plant_id, "now another worker's")
            elif not next(renewed):
                self.give_up(plant_id, "lease held by another worker")

    def give_up(self, plant_id: int, why: str) -> None:
        """Close the plant's runtime, then release its lease (in that order: the next owner
        connects only after this one let go)."""
        log.info("plant %s: %s, closing its device connections here", plant_id, why)
        self._drop(plant_id)
        try:
            release(plant_id)
        except redis.RedisError:
            log.warning("plant %s: lease not released (Redis); it expires on its own", plant_id)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="fleet-heartbeat", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.beat()
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    log.warning("fleet heartbeat failed (Redis): %s", exc)
                failing = True
            except Exception:  # the heartbeat must go on
                log.exception("fleet heartbeat")
            self._stop.wait(HEARTBEAT_S)

    def stop(self) -> None:
        """Leave the fleet: stop announcing, close every runtime and release its lease, so the
        other workers take the plants over at their next tick instead of after the TTL."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(redis.RedisError):
            unregister(self.name)
        for plant_id in self._running():
            self.give_up(plant_id, "worker stopping")


_membership: Membership | None = None
_membership_lock = threading.Lock()


def join(name: str, running: Callable[[], list[int]], drop: Callable[[int], None]) -> Membership:
    """This process's membership (made and started once)."""
    global _membership
    with _membership_lock:
        if _membership is None:
            _membership = Membership(name, running, drop)
            _membership.start()
        return _membership


def membership() -> Membership | None:
    return _membership


def leave() -> None:
    global _membership
    with _membership_lock:
        current, _membership = _membership, None
    if current is not None:
        current.stop()
