"""The uplink's Celery jobs: beat runs ``tick`` every minute; ``deliver`` runs on the ``default`` queue."""

from __future__ import annotations

import logging

from celery import shared_task

from solarportal import services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def tick() -> list[int]:
    """Queue the completed intervals' reports, then hand each plant with a due report to ``deliver``."""
    services.queue_reports()
    due = services.plants_due()
    for plant_id in due:
        deliver.apply_async(args=(plant_id,), queue="default", expires=120)
    return due


@shared_task(ignore_result=True)
def deliver(plant_id: int) -> int:
    """Send the plant's due reports in order until one fails (it then waits for its backoff)."""
    return services.deliver(plant_id)
