"""The worker's side of the wallbox's device jobs: setup moves, info reads, the setup retries and
the firmware upload (:data:`wallbox.jobs.KINDS`).

Runs in the worker only (registered by ``wallbox.apps`` as ``"module:function"`` and imported when
such a job runs): here the ENECTOR driver (and with it pymodbus) is loaded and the box is asked,
through the line's owner. No page, form or API module imports this one (checked by import-linter).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from energy import config as energy
from energy.config import SerialConfig
from energy.devices import DeviceError
from wallbox import jobs
from wallbox.drivers import enector, enector_setup
from wallbox.firmware import FIRMWARE_DEADLINE_S, firmware_image_key, set_progress, sync_redis
from wallbox.models import Wallbox
from wallbox.setup import Device, device_params, retry_setup, store_info

log = logging.getLogger(__name__)


def direct(run: jobs.Runner) -> Device:
    """Device access for code that already runs in the worker (a job): through ``run``."""
    return lambda op, params: perform(op, params, run)


def perform(
    op: str, params: dict[str, Any], run: jobs.Runner, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """One device operation in the worker's device loop, through the line's owner."""
    serial = SerialConfig(**params["serial"])
    address = int(params.get("address", energy.WALLBOX_FACTORY_ADDRESS))
    try:
        if op == "read_info":
            info = run(enector_setup.read_info(serial, address), jobs.DEVICE_DEADLINE_S)
        elif op == "move_address":
            move = enector_setup.move_address(
                serial, address, int(params["to_address"]), allow_plugged=bool(params.get("allow_plugged"))
            )
            info = run(move, jobs.DEVICE_DEADLINE_S)
        elif op == "restore_factory_address":
            info = run(enector_setup.restore_factory_address(serial, address), jobs.DEVICE_DEADLINE_S)
        elif op == "update_firmware":
            update = enector_setup.update_firmware(serial, address, params["data"], progress)
            info = run(update, FIRMWARE_DEADLINE_S)
        else:
            raise jobs.DeviceJobError(f"unknown device operation {op!r}")
    except enector.VehiclePluggedIn as error:
        raise jobs.DeviceJobError(str(error), plugged=True) from None
    except enector.NoVendorBlock as error:
        raise jobs.DeviceJobError(str(error), unsupported=True) from None
    except (DeviceError, TimeoutError, OSError) as error:
        raise jobs.DeviceJobError(str(error) or _("no answer in time")) from None
    result: dict[str, Any] = dataclasses.asdict(info)
    return result


def device_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The worker's side of :func:`via_worker`."""
    return perform(str(params["op"]), params, run)


def retry_setup_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The cycle's automatic retry of a pending setup, as a job in the worker."""
    box = Wallbox.objects.filter(pk=int(params["wallbox_id"])).first()
    if box is None:
        return {"message": "deleted"}
    message = retry_setup(box, direct(run))
    log.info("wallbox %s: %s", box.name, message)
    return {"message": message, "pending": box.is_pending}


def firmware_job(params: dict[str, Any], run: jobs.Runner, progress: jobs.Progress) -> dict[str, Any]:
    """The firmware upload in the worker: the image from Redis to the box, progress to Redis."""
    wallbox_id = int(params["wallbox_id"])
    try:
        data = sync_redis().get(firmware_image_key(wallbox_id))
        sync_redis().delete(firmware_image_key(wallbox_id))
        wallbox = Wallbox.objects.filter(pk=wallbox_id).first()
        if wallbox is None:
            raise jobs.DeviceJobError(_("The wallbox has been deleted."))
        if not data:
            raise jobs.DeviceJobError(_("The uploaded file expired before the worker took it; upload it again."))
        set_progress(wallbox_id, "running", 0.0, _("Transferring"))

        def report(fraction: float) -> None:
            set_progress(wallbox_id, "running", 100.0 * float(fraction), _("Transferring"))
            progress(fraction, "transferring")

        info = perform("update_firmware", {**device_params(wallbox.line, wallbox.address), "data": data}, run, report)
    except Exception as error:
        log.warning("firmware update of wallbox %s failed: %s", wallbox_id, error)
        set_progress(wallbox_id, "failed", 0.0, _("The update failed: %(error)s") % {"error": error or "timeout"})
        raise
    store_info(wallbox, info)
    Wallbox.objects.filter(pk=wallbox_id).update(
        firmware_version=wallbox.firmware_version,
        hardware_version=wallbox.hardware_version,
        serial_number=wallbox.serial_number,
        info_read_at=wallbox.info_read_at,
    )
    set_progress(
        wallbox_id,
        "done",
        100.0,
        _("Updated and restarted; firmware %(version)s.") % {"version": wallbox.firmware_version or "?"},
    )
    return {"firmware": wallbox.firmware_version}
