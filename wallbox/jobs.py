"""Device jobs: every talk with a wallbox outside the cycle runs in the worker, through the line's owner.

The web process never opens a serial line. Setup (the 50 -> 100 address move), the retries of a
pending setup, reading a box's info, writing 50 back on delete and the firmware upload are
*jobs*: a Celery task on the ``default`` queue (``plant.jobs.device_job``) that runs in the
worker process, whose one device event loop owns every RS485 line (``wallbox.drivers.bus``), so a
job's transactions take their turn on the line between the cycle's, never beside them.

* :func:`submit` records the job in Redis (``<prefix>:jobs:<id>``: state ``queued``,
  ``running``, ``done`` or ``failed``, progress 0-100 %, a message, the result; kept an hour) and
  sends it; with ``wait_s`` it waits for the outcome (setup and info take a moment: a few
  transactions), else it returns at once and the page polls :func:`read_job`.
* :func:`execute` is what the worker runs (``run`` hands a coroutine to the worker's device
  loop); the handlers are in :mod:`wallbox.services`, the one module that loads the driver.
* Every failure is a :class:`DeviceJobError` with a message for people; ``plugged`` says the
  box refused because a vehicle is plugged in (the setup is then deferred).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from django.conf import settings

from energy.config import SerialConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, Any], float], Any]
Progress = Callable[[float, str], None]
JOB_TASK = "plant.jobs.device_job"
JOB_QUEUE = "default"
JOB_TTL_S = 3600
POLL_S = 0.05
# A setup call to the box takes a few Modbus round trips (plus waiting for the line).
DEVICE_DEADLINE_S = 10.0
FIRMWARE_DEADLINE_S = 30 * 60.0
FINISHED = ("done", "failed")


class DeviceJobError(Exception):
    """A device job failed; the message says why, ``plugged`` that a vehicle blocked it,
    ``unsupported`` that the box lacks the function (a real box without the vendor block)."""

    def __init__(self, message: str, *, plugged: bool = False, unsupported: bool = False) -> None:
        super().__init__(message)
        self.plugged = plugged
        self.unsupported = unsupported


def _redis() -> Any:
    from wallbox.services import sync_redis

    return sync_redis()


def job_key(job_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:jobs:{job_id}"


def read_job(job_id: str) -> dict[str, Any] | None:
    raw = _redis().get(job_key(job_id))
    return json.loads(raw) if raw else None


def update_job(job_id: str, **fields: Any) -> dict[str, Any]:
    record = read_job(job_id) or {"id": job_id}
    record.update(fields, updated=time.time())
    if "progress_pct" in fields:
        record["progress_pct"] = round(max(0.0, min(100.0, float(fields["progress_pct"]))), 1)
    _redis().set(job_key(job_id), json.dumps(record), ex=JOB_TTL_S)
    return record


def _send(job_id: str, kind: str, params: dict[str, Any]) -> None:
    from celery import current_app

    task = current_app.tasks.get(JOB_TASK)
    if task is not None:
        task.apply_async((job_id, kind, params), queue=JOB_QUEUE)
    else:
        current_app.send_task(JOB_TASK, (job_id, kind, params), queue=JOB_QUEUE)


def submit(kind: str, params: dict[str, Any], *, wait_s: float | None = None, target: str = "") -> dict[str, Any]:
    """Record and send a job; with ``wait_s``, wait for its outcome (``DeviceJobError`` when it
    failed or did not finish in time)."""
    job_id = uuid.uuid4().hex
    update_job(job_id, kind=kind, target=target, state="queued", progress_pct=0.0, message="", result=None)
    _send(job_id, kind, params)
    if wait_s is None:
        return read_job(job_id) or {"id": job_id, "state": "queued"}
    deadline = time.monotonic() + wait_s
    while True:
        record = read_job(job_id)
        if record is not None and record.get("state") in FINISHED:
            break
        if time.monotonic() >= deadline:
            state = record.get("state") if record else "lost"
            raise DeviceJobError(
                f"the worker did not finish this within {wait_s:g} s (job {state}); is the worker running?"
            )
        time.sleep(POLL_S)
    if record["state"] == "failed":
        raise DeviceJobError(
            str(record.get("message") or "failed"),
            plugged=bool(record.get("plugged")),
            unsupported=bool(record.get("unsupported")),
        )
    result: dict[str, Any] = record.get("result") or {}
    return result


# --- in the worker ----------------------------------------------------------------------------------


def serial_params(serial: SerialConfig) -> dict[str, Any]:
    return dataclasses.asdict(serial)


def execute(job_id: str, kind: str, params: dict[str, Any], run: Runner) -> None:
    """Run a job in the worker and leave its outcome in its record; never raises."""
    update_job(job_id, state="running", message="")

    def progress(fraction: float, message: str = "") -> None:
        update_job(job_id, progress_pct=100.0 * fraction, message=message)

    try:
        result = _handlers()[kind](params, run, progress)
    except DeviceJobError as error:
        update_job(job_id, state="failed", message=str(error), plugged=error.plugged, unsupported=error.unsupported)
    except Exception as error:
        log.warning("device job %s (%s) failed", job_id, kind, exc_info=True)
        update_job(job_id, state="failed", message=str(error) or type(error).__name__)
    else:
        update_job(job_id, state="done", progress_pct=100.0, result=result)


def _handlers() -> dict[str, Callable[[dict[str, Any], Runner, Progress], dict[str, Any]]]:
    from wallbox import services

    return {
        "wallbox.device": services.device_job,
        "wallbox.retry_setup": services.retry_setup_job,
        "wallbox.firmware": services.firmware_job,
    }
