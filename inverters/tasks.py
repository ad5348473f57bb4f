"""The inverters' periodic job: device info for inverters that have none (INV-2).

An inverter made by ``bootstrap`` or shipped in a fixture was never detected, and one whose
last read failed has no info either. At worker start and every ``detection.SWEEP_S`` (beat) the
worker sends an info job for each of them (``inverters.info``, on the ``default`` queue, never in
a cycle's lock); after a failed read the next one waits longer (``detection.retry_delay_s``).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.signals import worker_ready

from inverters import detection
from inverters.models import Inverter

log = logging.getLogger(__name__)
SWEEP_TASK = "inverters.tasks.read_missing_info"


@shared_task(name=SWEEP_TASK, ignore_result=True)
def read_missing_info() -> int:
    """Send an info job for every inverter without device info whose pause is over; how many were sent."""
    due = detection.due_for_info(Inverter.objects.filter(detected_at__isnull=True), time.time())
    for inverter in due:
        detection.request_info(inverter)
    return len(due)


@worker_ready.connect
def _read_missing_info_at_start(**_kwargs: object) -> None:
    """A worker that starts does not wait for the first beat: bootstrapped inverters get their info at once."""
    try:
        read_missing_info.apply_async(queue="default", expires=detection.SWEEP_S)
    except Exception:  # the broker's own retry brings the beat's sweep later
        log.warning("sending the device-info sweep at worker start failed", exc_info=True)
