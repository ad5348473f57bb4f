"""The wallbox's device jobs: every talk with a box outside the cycle runs in the worker, through the line's owner.

Setup (the 50 -> 100 address move), the retries of a pending setup, reading a box's info,
writing 50 back on delete and the firmware upload are jobs of the generic machinery
(:mod:`devicejobs`: the record in Redis, ``submit``/``read_job``, the worker's ``execute``). This
module names the wallbox's kinds and their handlers in :mod:`wallbox.device_jobs`, the one module
that loads the driver (imported by the worker alone), and keeps the names the services use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from devicejobs import (
    FINISHED,
    JOB_QUEUE,
    JOB_TASK,
    JOB_TTL_S,
    DeviceJobError,
    Progress,
    Runner,
    execute,
    job_key,
    read_job,
    register,
    submit,
    update_job,
)
from energy.config import SerialConfig

__all__ = [
    "DEVICE_DEADLINE_S", "FINISHED", "FIRMWARE_DEADLINE_S", "JOB_QUEUE", "JOB_TASK", "JOB_TTL_S", "KINDS",
    "DeviceJobError", "Progress", "Runner", "execute", "job_key", "read_job", "register_kinds", "serial_params",
    "submit", "update_job",
]  # fmt: skip

# A setup call to the box takes a few Modbus round trips (plus waiting for the line).
DEVICE_DEADLINE_S = 10.0
FIRMWARE_DEADLINE_S = 30 * 60.0
KINDS = {
    "wallbox.device": "wallbox.device_jobs:device_job",
    "wallbox.retry_setup": "wallbox.device_jobs:retry_setup_job",
    "wallbox.firmware": "wallbox.device_jobs:firmware_job",
}


def register_kinds() -> None:
    for kind, handler in KINDS.items():
        register(kind, handler)


def serial_params(serial: SerialConfig) -> dict[str, Any]:
    return dataclasses.asdict(serial)
