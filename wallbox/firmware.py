"""Firmware updates of a box (WB-13): the file checked and handed to the worker, progress kept in
Redis. The worker's upload is :func:`wallbox.device_jobs.firmware_job`."""

from __future__ import annotations

import json
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import redisconn
from wallbox import jobs
from wallbox.models import Wallbox

FIRMWARE_MAX_BYTES = 8 * 1024 * 1024  # what the box's update block takes
FIRMWARE_DEADLINE_S = jobs.FIRMWARE_DEADLINE_S
PROGRESS_TTL_S = 3600
REDIS_TIMEOUT_S = 0.5


def sync_redis() -> redis.Redis:
    """The process's shared Redis client at the wallbox pages' timeout."""
    return redisconn.sync_redis(REDIS_TIMEOUT_S)


def firmware_key(wallbox_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:wallbox:firmware:{wallbox_id}"


def check_firmware(data: bytes) -> None:
    if not data:
        raise ValidationError({"firmware": [_("The file is empty.")]})
    if len(data) > FIRMWARE_MAX_BYTES:
        raise ValidationError(
            {"firmware": [_("The file is larger than %(max)d MB; that is no ENECTOR firmware.") % {"max": 8}]}
        )


def firmware_image_key(wallbox_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:wallbox:firmware-image:{wallbox_id}"


def firmware_progress(wallbox_id: int) -> dict[str, Any]:
    """``{"state": idle|queued|running|done|failed, "progress_pct": 0-100, "message": ...}``."""
    raw = sync_redis().get(firmware_key(wallbox_id))
    if not raw:
        return {"state": "idle", "progress_pct": 0.0, "message": ""}
    data: dict[str, Any] = json.loads(raw)
    return data


def set_progress(wallbox_id: int, state: str, progress_pct: float, message: str = "") -> None:
    value = {"state": state, "progress_pct": round(max(0.0, min(100.0, progress_pct)), 1), "message": message}
    sync_redis().set(firmware_key(wallbox_id), json.dumps(value), ex=PROGRESS_TTL_S)


def start_firmware_update(wallbox: Wallbox, data: bytes) -> dict[str, Any]:
    """Validate the file and hand it to the worker, which transfers it to the box; progress goes
    to Redis (:func:`firmware_progress`). Returns the progress as it stands.

    Refused while an update of the same box is queued or runs. The worker writes the image
    through the line's owner (between the cycle's transactions), the box restarts, then its
    firmware version is read again.
    """
    check_firmware(data)
    if firmware_supported(wallbox) is False:
        raise ValidationError(
            {"firmware": [_("%(name)s has no firmware update over Modbus. %(note)s")
                          % {"name": wallbox.name, "note": SIMULATED_ONLY_NOTE}]}
        )  # fmt: skip
    if wallbox.is_pending:
        raise ValidationError({"firmware": [_("Finish the setup of %(name)s first.") % {"name": wallbox.name}]})
    if firmware_progress(wallbox.pk)["state"] in ("queued", "running"):
        raise ValidationError({"firmware": [_("A firmware update of %(name)s is running.") % {"name": wallbox.name}]})
    sync_redis().set(firmware_image_key(wallbox.pk), data, ex=PROGRESS_TTL_S)
    set_progress(wallbox.pk, "queued", 0.0, _("Waiting for the worker"))
    jobs.submit("wallbox.firmware", {"wallbox_id": wallbox.pk}, target=f"wallbox {wallbox.pk}")
    return firmware_progress(wallbox.pk)


def firmware_supported(wallbox: Wallbox) -> bool | None:
    """Whether the box takes a firmware upload over Modbus: a box whose info was read without the
    vendor block (no hardware version) does not; ``None`` until its info has been read."""
    if wallbox.info_read_at is None:
        return None
    return wallbox.firmware_over_modbus


# What the page, the API and the docs say about the two functions of the vendor block (issue 13.8).
SIMULATED_ONLY_NOTE = gettext_lazy(
    "The firmware upload and the 50 -> 100 address move use a register block this project defines; the "
    "published ENECTOR/AMTRON Modbus map has neither. They work with the simulated ENECTOR only. A real "
    "box stays at the address it answers (50 from the factory) and gets its firmware through the vendor's "
    "service (KOSTAL/MENNEKES); nothing is sent to a box that does not have the block."
)
