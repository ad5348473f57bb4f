from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from meter import services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def purge_old_logs() -> None:
    logs, records = services.purge_old_logs(timezone.now())
    if logs or records:
        log.info("purged %s 5-minute averages and %s energy records", logs, records)
