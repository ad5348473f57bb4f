"""The 1 s tick and the per-plant cycle task. Thin: the work is in plant.services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_shutdown
from django.conf import settings
from redis.exceptions import LockError

from plant import live, services
from plant.runtime import stop_device_loop

log = logging.getLogger(__name__)

# Long enough for any cycle that has not been abandoned; released as soon as the cycle ends.
LOCK_TTL_S = services.CYCLE_TIMEOUT_S + 5.0


@shared_task(ignore_result=True)
def tick() -> int:
    """Fan out one cycle per active plant. Returns how many were sent."""
    live.mark_tick()
    interval = settings.CYCLE_INTERVAL_S
    plant_ids = services.active_plant_ids()
    for plant_id in plant_ids:
        # expires: a cycle that could not start within one interval is dropped, so a slow
        # worker skips cycles instead of piling them up.
        run_cycle.apply_async((plant_id,), expires=interval)
    return len(plant_ids)


@shared_task(ignore_result=True)
def run_cycle(plant_id: int) -> bool:
    """Run one cycle unless the previous cycle of this plant still runs. Returns whether it ran."""
    lock = live.sync_redis().lock(live.lock_key(plant_id), timeout=LOCK_TTL_S, blocking=False)
    if not lock.acquire():
        log.info("plant %s: previous cycle still running, skipping this tick", plant_id)
        return False
    try:
        services.run_plant_cycle(plant_id)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("plant %s: cycle outlived its lock", plant_id)
    return True


@worker_shutdown.connect
def _on_worker_shutdown(**_kwargs: object) -> None:
    services.shutdown_runtimes()
    stop_device_loop()
