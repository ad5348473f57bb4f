"""Device jobs in the worker (issue 13.5): slow or rare device work beside the cycle.

Wallbox setup, address moves, info reads, firmware uploads, inverter detection and device info
(whatever a device app registers with :func:`devicejobs.register`) run here as Celery tasks on
the ``default`` queue, in the worker process whose one device event loop (:mod:`plant.runtime`)
owns every device connection and RS485 line: their transactions go through the same line owner
as the cycle's, one at a time. The web process only records a job and sends it
(``devicejobs.submit``); progress and outcome are in Redis. This task knows no app: the kind
names the handler its app registered.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

import devicejobs
from plant.runtime import device_loop


def _run(coro: Any, timeout_s: float) -> Any:
    return device_loop().run(coro, timeout_s=timeout_s)


@shared_task(name=devicejobs.JOB_TASK, ignore_result=True)
def device_job(job_id: str, kind: str, params: dict[str, Any]) -> None:
    """Run one recorded device job; its outcome goes to its record, never an exception."""
    devicejobs.execute(job_id, kind, params, _run)
