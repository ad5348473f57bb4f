"""The 1 s tick and the per-plant cycle task. Thin: the work is in plant.worker."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from typing import Any

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import LockError, RedisError

import redisconn
from modbus import services as modbus_services
from plant import fleet, live, services, worker
from plant import jobs as _jobs  # noqa: F401 - registers plant.jobs.device_job with the worker
from plant.runtime import stop_device_loop

log = logging.getLogger(__name__)

# Long enough for any cycle that has not been abandoned; released as soon as the cycle ends.
LOCK_TTL_S = worker.CYCLE_TIMEOUT_S + 5.0
_HOST = socket.gethostname()
LOCK_TTL_MS = int(LOCK_TTL_S * 1000)
# Cycle messages sent in one pipeline: the first plants of a large fleet wait for at most this many
# to be built (about 20 ms for 100) before they leave.
FAN_OUT_BATCH = 100


def _lock_token() -> str:
    """Who holds a cycle lock: host, process id, then a unique part (the lock's own token)."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex}"


def _holder_is_dead(token: bytes | str | None) -> bool:
    """A lock left by a process of this host that no longer exists (killed mid-cycle, OOM)."""
    text = token.decode(errors="replace") if isinstance(token, bytes) else (token or "")
    host, _, rest = text.partition(":")
    pid = rest.partition(":")[0]
    if host != _HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


_known_plant_ids: list[int] = []
_database_down = False


def _known_key() -> str:
    return redisconn.key("plant", "active-ids")


def _share_known(plant_ids: list[int]) -> None:
    """Leave the active plants where every worker finds them: the next tick may land on a worker
    that has not read them yet (one just started), and the database may be down then."""
    with contextlib.suppress(RedisError):
        redisconn.sync_redis().set(_known_key(), json.dumps(plant_ids))


def _shared_known() -> list[int]:
    try:
        raw = redisconn.sync_redis().get(_known_key())
        ids = json.loads(raw) if raw else []
    except (RedisError, ValueError):
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def _active_plant_ids() -> list[int]:
    """The active plants; while the database does not answer, those last read (by this worker,
    else by any): the plants keep cycling on the settings their workers hold (logged once per
    outage)."""
    global _known_plant_ids, _database_down
    try:
        plant_ids = services.active_plant_ids()
    except DatabaseError as exc:
        if not _known_plant_ids:
            _known_plant_ids = _shared_known()
        if not _database_down:
            log.warning("database not answering (%s): cycling the %d plants last known", exc, len(_known_plant_ids))
        _database_down = True
        return _known_plant_ids
    _share_known(plant_ids)  # every tick: one command a second, and a restarted Redis has it again
    _known_plant_ids = plant_ids
    if _database_down:
        log.warning("database answering again")
    _database_down = False
    return _known_plant_ids


@shared_task(ignore_result=True)
def tick() -> int:
    """Fan out one cycle per active plant. Returns how many were sent."""
    live.mark_tick()
    interval = settings.CYCLE_INTERVAL_S
    plant_ids = _active_plant_ids()
    # Each plant to the queue of the live worker the rendezvous hash picks (plant.fleet).
    queues = fleet.route(plant_ids, fleet.live_workers())
    # In the order the plants' last cycles began (plant.fleet.dispatch_order): each plant keeps
    # its place within the second, and one whose cycle was dropped goes first next time. One
    # producer and one pipeline for the lot (kombu's publish batch): 0.2 instead of 0.5 ms of CPU
    # a plant, and the last message leaves as early as the first did before.
    with run_cycle.app.producer_or_acquire() as producer, producer.batch(max_size=FAN_OUT_BATCH):
        for plant_id in fleet.dispatch_order(plant_ids, redisconn.sync_redis()):
            # expires: a cycle that could not start within one interval is dropped, so a slow
            # worker skips cycles instead of piling them up.
            run_cycle.apply_async((plant_id,), expires=interval, queue=queues[plant_id], producer=producer)
    return len(plant_ids)


def _lost_lease(token: bytes | str | None) -> bool:
    """A cycle lock held by another process, while this one holds the plant's lease: that process
    lost the plant (it died, on this machine or another, or stalled past its lease) and would
    not cycle it again."""
    text = token.decode(errors="replace") if isinstance(token, bytes) else (token or "")
    host, _, rest = text.partition(":")
    return f"{host}:{rest.partition(':')[0]}" != fleet.owner_id()


def _value(raw: bytes) -> bytes | None:
    return raw or None


@shared_task(ignore_result=True)
def run_cycle(plant_id: int) -> bool:
    """Run one cycle unless the previous cycle of this plant still runs, or another worker
    drives the plant (its lease, plant.fleet). Returns whether it ran."""
    member = fleet.membership()
    if member is not None and not member.owns(plant_id):
        log.info("plant %s: driven by another worker (the rendezvous), not here", plant_id)
        worker.drop_runtime(plant_id)
        return False
    client = redisconn.sync_redis()
    key = live.lock_key(plant_id)
    token = _lock_token()
    # Lease, cycle lock, and what the cycle needs of Redis (both config generations, the stored
    # Modbus wallbox command) in one round trip.
    read = [
        live.config_generation_key(),
        live.config_generation_key(plant_id),
        modbus_services.wallbox_command_key(plant_id),
    ]
    reply = fleet.begin_cycle(plant_id, key, token, LOCK_TTL_MS, read, client)
    inputs: tuple[Any, Any] | None = None
    if reply[0] == fleet.NOT_OURS:
        log.info("plant %s: driven by another worker (lease %s), not here", plant_id, reply[1].decode(errors="replace"))
        worker.drop_runtime(plant_id)
        return False
    if reply[0] == fleet.LOCKED:
        holder = _value(reply[1])
        # A worker killed in the middle of a cycle leaves its lock behind: without this, its
        # replacement would skip every tick until the lock expires (LOCK_TTL_S).
        if not (
            holder is not None
            and (_holder_is_dead(holder) or _lost_lease(holder))
            and fleet.script(fleet.COMPARE_AND_DELETE)([key], [holder], client=client)
            and client.set(key, token, nx=True, px=LOCK_TTL_MS)
        ):
            log.info("plant %s: previous cycle still running, skipping this tick", plant_id)
            return False
        log.warning("plant %s: took over the cycle lock of a worker that died mid-cycle", plant_id)
    else:
        inputs = ((_value(reply[1]), _value(reply[2])), _value(reply[3]))
    try:
        # Again under the lock: the heartbeat may have handed the plant on meanwhile (it closes
        # the runtime under this lock, then releases the lease).
        if member is not None and not member.owns(plant_id):
            worker.drop_runtime(plant_id)
            return False
        worker.run_plant_cycle(plant_id, inputs=inputs)
    finally:
        if not fleet.script(fleet.COMPARE_AND_DELETE)([key], [token], client=client):
            log.warning("plant %s: cycle outlived its lock", plant_id)
    return True


def _drop_between_cycles(plant_id: int) -> None:
    """Close a plant's runtime that is no longer this worker's, never in the middle of its cycle:
    under the plant's cycle lock (waiting for a running cycle at most ``CYCLE_TIMEOUT_S``)."""
    lock = None
    try:
        lock = redisconn.sync_redis().lock(
            live.lock_key(plant_id), timeout=LOCK_TTL_S, blocking_timeout=worker.CYCLE_TIMEOUT_S
        )
        if not lock.acquire(token=_lock_token()):
            lock = None
    except RedisError:
        lock = None
    try:
        worker.drop_runtime(plant_id)
    finally:
        if lock is not None:
            with contextlib.suppress(LockError, RedisError):
                lock.release()


_node_name: str | None = None


@celeryd_after_setup.connect
def _add_own_queue(sender: str, instance: Any, **_kwargs: object) -> None:
    """Every worker also consumes a realtime queue of its own, where ``tick`` routes the plants
    the rendezvous hash gives it (plant.fleet). Node names must differ (``-n w1@%h``). A worker
    started for the slow jobs only (``-Q default``) stays out of the fleet."""
    global _node_name
    consumed = instance.app.amqp.queues.consume_from
    if consumed and fleet.SHARED_QUEUE not in consumed:
        return
    _node_name = sender
    queue = fleet.queue_of(sender)
    # Its own exchange, as Celery declares a queue it routes to without knowing it (the tick).
    instance.app.amqp.queues.select_add(queue, exchange=queue, routing_key=queue)


@worker_ready.connect
def _start_guard(**_kwargs: object) -> None:
    """Join the fleet, then the sub-second guard passes between the 1 s cycles (MET-3,
    ``KSEM_GUARD_PERIOD_S``)."""
    if _node_name is not None:
        fleet.join(_node_name, worker.running_plant_ids, _drop_between_cycles)
    worker.start_guard()


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs: object) -> None:
    fleet.leave()  # closes this worker's runtimes and releases their leases
    worker.shutdown_runtimes()
    stop_device_loop()
