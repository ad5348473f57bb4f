"""The worker's side of an inverter's device jobs: detection and device info (INV-2).

Runs in the worker only (registered by ``inverters.apps`` as ``"module:function"`` and imported
when such a job runs): here the drivers are loaded and the device is asked, in the worker's
device loop, so an inverter on an RS485 line takes its turn there like every other transaction.
No page, form or API module imports this one (checked by import-linter).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from devicejobs import DeviceJobError, Progress, Runner
from energy.config import InverterConfig
from inverters import detection
from inverters.drivers import connect_inverter
from inverters.models import Inverter
from inverters.services import inverter_config

log = logging.getLogger(__name__)


async def _identify(config: InverterConfig) -> dict[str, Any]:
    device: Any = connect_inverter(config)  # an inverter driver: Device plus identify()
    try:
        info = await asyncio.wait_for(device.identify(), detection.deadline_s(config))
    finally:
        device.close()
    if dataclasses.is_dataclass(info) and not isinstance(info, type):
        return dataclasses.asdict(info)
    return dict(info)


def identify(config: InverterConfig, run: Runner) -> dict[str, Any]:
    """What the device says about itself; :class:`DeviceJobError` whose ``details`` say why not."""
    try:
        info: dict[str, Any] = run(_identify(config), detection.deadline_s(config) + 1.0)
    except Exception as error:  # whatever a driver raises is an answer for the person who asked
        outcome = detection.classify(error)
        if outcome == "failed":
            log.info("identifying %s failed", detection.describe_address(config), exc_info=True)
        text = str(error) or type(error).__name__
        raise DeviceJobError(
            detection.failure_text(config, outcome, text), details={"outcome": outcome, "error": text}
        ) from None
    return info


def detect_job(params: dict[str, Any], run: Runner, progress: Progress) -> dict[str, Any]:
    """``inverters.detect``: identify the device a page or the API is about to save."""
    return identify(detection.config_from_params(params["config"]), run)


def info_job(params: dict[str, Any], run: Runner, progress: Progress) -> dict[str, Any]:
    """``inverters.info``: read an inverter's device info and store it, unless its connection
    changed meanwhile (then the new settings' detection stored it already)."""
    inverter = Inverter.objects.filter(pk=int(params["inverter_id"])).first()
    if inverter is None:
        raise DeviceJobError("The inverter has been deleted.")
    connection = {name: getattr(inverter, name) for name in detection.CONNECTION_FIELDS}
    progress(0.1, "")
    try:
        info = identify(inverter_config(inverter), run)
    except DeviceJobError:
        state = detection.read_info_state(inverter.pk)
        failures = int(state.get("failures", 0)) + 1
        state |= {"failures": failures, "next_at": time.time() + detection.retry_delay_s(failures)}
        detection.write_info_state(inverter.pk, state)
        raise
    fields = detection.info_fields(info)
    with transaction.atomic():
        # A queryset update: the info is nothing the cycle loads, so no reload is announced.
        stored = Inverter.objects.filter(pk=inverter.pk, **connection).update(**fields, detected_at=timezone.now())
    state = detection.read_info_state(inverter.pk) | {"failures": 0, "next_at": 0.0}
    detection.write_info_state(inverter.pk, state)
    if not stored:
        raise DeviceJobError("The inverter's connection changed while its info was read; read it again.")
    return {"info": fields}
