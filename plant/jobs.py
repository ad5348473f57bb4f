"""Device jobs in the worker (issue 13.5): slow or rare device work beside the cycle.

Wallbox setup, address moves, info reads, firmware uploads (and what else a device app hands
over) run here as Celery tasks on the ``default`` queue, in the worker process whose one device
event loop (:mod:`plant.runtime`) owns every RS485 line: their transactions go through the same
line owner as the cycle's (``wallbox.drivers.bus``), one at a time. The web process only records
a job and sends it (``wallbox.jobs.submit``); progress and outcome are in Redis.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from plant.runtime import device_loop
from wallbox import jobs as wallbox_jobs


def _run(coro: Any, timeout_s: float) -> Any:
    return device_loop().run(coro, timeout_s=timeout_s)


@shared_task(name=wallbox_jobs.JOB_TASK, ignore_result=True)
def device_job(job_id: str, kind: str, params: dict[str, Any]) -> None:
    """Run one recorded device job; its outcome goes to its record, never an exception."""
    if kind.startswith("wallbox."):
        wallbox_jobs.execute(job_id, kind, params, _run)
    else:
        wallbox_jobs.update_job(job_id, state="failed", message=f"unknown job kind {kind!r}")
