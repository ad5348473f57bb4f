"""Device jobs: every talk with a device outside the cycle runs in the worker, through the line's owner.

The web process never opens a device connection. Talks with a device that are not part of the
cycle (a wallbox's setup, info read, address move and firmware upload; an inverter's detection
and device info) are *jobs*: a Celery task on the ``default`` queue (``plant.jobs.device_job``)
that runs in the worker process, whose one device event loop owns every connection and RS485
line, so a job's transactions take their turn on a line between the cycle's, never beside them.

This module sits below the device apps (layers in ``pyproject.toml``): it knows no app. Each app
registers its job kinds at start-up (:func:`register`, from its ``AppConfig.ready``) as
``"module:function"`` paths; the handler module is imported only when a job of its kind runs,
in the worker, so the pages never load a driver by way of a job.

* :func:`submit` records the job in Redis (``<prefix>:jobs:<id>``: state ``queued``,
  ``running``, ``done`` or ``failed``, progress 0-100 %, a message, the result, who ran it; kept
  an hour) and sends it; with ``wait_s`` it waits for the outcome, else it returns at once and a
  page polls :func:`read_job`.
* :func:`execute` is what the worker runs (``run`` hands a coroutine to the worker's device loop).
* Every failure is a :class:`DeviceJobError` with a message for people, flags a caller acts on
  and ``details`` (kept in the record) from which a page can word the failure again in its
  reader's language.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import redis
from django.conf import settings

import redisconn

log = logging.getLogger(__name__)

Runner = Callable[[Coroutine[Any, Any, Any], float], Any]
Progress = Callable[[float, str], None]
Handler = Callable[[dict[str, Any], Runner, Progress], dict[str, Any]]
JOB_TASK = "plant.jobs.device_job"
JOB_QUEUE = "default"
JOB_TTL_S = 3600
POLL_S = 0.05
REDIS_TIMEOUT_S = 0.5
FINISHED = ("done", "failed")

_kinds: dict[str, str] = {}


class DeviceJobError(Exception):
    """A device job failed; the message says why.

    ``plugged``: a vehicle blocked it; ``unsupported``: the device lacks the function;
    ``timed_out``: the caller stopped waiting (``state`` says how far the job got: ``queued``
    means no worker took it); ``details``: what the handler reported, for wording it again.
    """

    def __init__(
        self,
        message: str,
        *,
        plugged: bool = False,
        unsupported: bool = False,
        timed_out: bool = False,
        state: str = "failed",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.plugged = plugged
        self.unsupported = unsupported
        self.timed_out = timed_out
        self.state = state
        self.details = details or {}


def register(kind: str, handler: str) -> None:
    """Name the handler of a job kind: ``"package.module:function"``, imported when such a job runs."""
    module, _, function = handler.partition(":")
    if not module or not function:
        raise ValueError(f"a job handler is 'module:function', not {handler!r}")
    _kinds[kind] = handler


def registered_kinds() -> dict[str, str]:
    return dict(_kinds)


def handler_for(kind: str) -> Handler | None:
    path = _kinds.get(kind)
    if path is None:
        return None
    module, _, function = path.partition(":")
    handler: Handler = getattr(importlib.import_module(module), function)
    return handler


def sync_redis() -> redis.Redis:
    """The process's shared client with the jobs' short timeout (one connection pool, not one per call)."""
    return redisconn.sync_redis(REDIS_TIMEOUT_S)


def job_key(job_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:jobs:{job_id}"


def read_job(job_id: str) -> dict[str, Any] | None:
    raw = sync_redis().get(job_key(job_id))
    return json.loads(raw) if raw else None


def update_job(job_id: str, **fields: Any) -> dict[str, Any]:
    record = read_job(job_id) or {"id": job_id}
    record.update(fields, updated=time.time())
    if "progress_pct" in fields:
        record["progress_pct"] = round(max(0.0, min(100.0, float(fields["progress_pct"]))), 1)
    sync_redis().set(job_key(job_id), json.dumps(record), ex=JOB_TTL_S)
    return record


def _send(job_id: str, kind: str, params: dict[str, Any], expires_s: float | None) -> None:
    from celery import current_app

    options: dict[str, Any] = {"queue": JOB_QUEUE}
    if expires_s is not None:
        options["expires"] = expires_s
    task = current_app.tasks.get(JOB_TASK)
    if task is not None:
        task.apply_async((job_id, kind, params), **options)
    else:
        current_app.send_task(JOB_TASK, (job_id, kind, params), **options)


def start(kind: str, params: dict[str, Any], *, target: str = "", expires_s: float | None = None) -> dict[str, Any]:
    """Record and send a job; returns its record (poll :func:`read_job` with its ``id``).

    ``expires_s``: a job no worker has taken by then is dropped (a detection nobody waits for
    any more must not run later)."""
    job_id = uuid.uuid4().hex
    update_job(job_id, kind=kind, target=target, state="queued", progress_pct=0.0, message="", result=None)
    _send(job_id, kind, params, expires_s)
    return read_job(job_id) or {"id": job_id, "state": "queued"}


def wait(job_id: str, wait_s: float) -> dict[str, Any]:
    """The result of a job once it is done; :class:`DeviceJobError` if it failed or took longer."""
    deadline = time.monotonic() + wait_s
    while True:
        record = read_job(job_id)
        if record is not None and record.get("state") in FINISHED:
            break
        if time.monotonic() >= deadline:
            state = str(record.get("state")) if record else "lost"
            raise DeviceJobError(
                f"the worker did not finish this within {wait_s:g} s (job {state}); is the worker running?",
                timed_out=True,
                state=state,
            )
        time.sleep(POLL_S)
    if record["state"] == "failed":
        raise DeviceJobError(
            str(record.get("message") or "failed"),
            plugged=bool(record.get("plugged")),
            unsupported=bool(record.get("unsupported")),
            details=record.get("details") or {},
        )
    result: dict[str, Any] = record.get("result") or {}
    return result


def submit(
    kind: str,
    params: dict[str, Any],
    *,
    wait_s: float | None = None,
    target: str = "",
    expires_s: float | None = None,
) -> dict[str, Any]:
    """Record and send a job; with ``wait_s``, wait for its outcome (``DeviceJobError`` when it
    failed or did not finish in time), else return its record at once."""
    record = start(kind, params, target=target, expires_s=expires_s)
    if wait_s is None:
        return record
    return wait(str(record["id"]), wait_s)


# --- in the worker ----------------------------------------------------------------------------------


def execute(job_id: str, kind: str, params: dict[str, Any], run: Runner) -> None:
    """Run a job in the worker and leave its outcome in its record; never raises."""
    update_job(job_id, state="running", message="", ran_by=f"{socket.gethostname()}:{os.getpid()}")

    def progress(fraction: float, message: str = "") -> None:
        update_job(job_id, progress_pct=100.0 * fraction, message=message)

    try:
        handler = handler_for(kind)
        if handler is None:
            raise DeviceJobError(f"unknown job kind {kind!r}")
        result = handler(params, run, progress)
    except DeviceJobError as error:
        update_job(
            job_id,
            state="failed",
            message=str(error),
            plugged=error.plugged,
            unsupported=error.unsupported,
            details=error.details,
        )
    except Exception as error:
        log.warning("device job %s (%s) failed", job_id, kind, exc_info=True)
        update_job(job_id, state="failed", message=str(error) or type(error).__name__)
    else:
        update_job(job_id, state="done", progress_pct=100.0, result=result)
