"""Detection and device info of an inverter (INV-2), as the pages, the admin and the API ask for them.

The device is asked in the worker, never here: detection and the info read are device jobs
(:mod:`devicejobs`, kinds ``inverters.detect`` and ``inverters.info``, handled by
:mod:`inverters.device_jobs`, which loads the drivers and which no page imports).

* Adding an inverter, or changing its type or address, waits for the detection job (bounded
  by the device's timeouts plus :data:`PICKUP_S` for the worker to take it): a device that does
  not answer is not saved, and a worker that does not run is said so, as a validation error.
* Inverters that have no device info (made by ``bootstrap``, shipped in a fixture, or whose
  read failed) get it in the background: the worker's sweep (:func:`due_for_info`, at worker
  start and every :data:`SWEEP_S`) sends an info job for each, again after a failure with a
  growing pause (:func:`retry_delay_s`). "Read device info again" on the page sends one at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

import devicejobs
from energy.config import InverterConfig, SerialConfig
from energy.devices import DeviceError
from inverters.models import Inverter
from inverters.services import inverter_config

log = logging.getLogger(__name__)

DETECT_KIND = "inverters.detect"
INFO_KIND = "inverters.info"
# Identification takes a few reads; each is bounded by the device's timeout.
DETECTION_READS = 4
# How long a waiting page allows the worker to take a detection off the queue.
PICKUP_S = 5.0
# The background sweep: how often, and the pause after failed reads (doubling, capped).
SWEEP_S = 30.0
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 3600.0
INFO_TTL_S = 7 * 24 * 3600
# What handing a job to the worker raises when Redis (the job record and the broker) is down.
SEND_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OperationalError)
CONNECTION_FIELDS = ("type", "host", "port", "unit_id", "interface", "address", "timeout_s")
# How the drivers' errors begin when nothing (or nothing in time) came back.
_NO_ANSWER = ("cannot connect", "no answer", "connection to")


class DetectionError(ValidationError):
    """The device did not answer (or not as the chosen type); the message says which and why."""


# --- what travels to the worker -----------------------------------------------------------------


def config_params(config: InverterConfig) -> dict[str, Any]:
    """The connection part of an inverter's settings as JSON for a job (the battery is no concern of detection)."""
    return {
        "name": config.name,
        "type": config.type,
        "max_ac_w": config.max_ac_w,
        "host": config.host,
        "port": config.port,
        "unit_id": config.unit_id,
        "serial": dataclasses.asdict(config.serial) if config.serial is not None else None,
        "timeout_s": config.timeout_s,
    }


def config_from_params(params: Mapping[str, Any]) -> InverterConfig:
    serial = params.get("serial")
    return InverterConfig(
        name=str(params["name"]),
        type=str(params["type"]),
        max_ac_w=float(params["max_ac_w"]),
        host=str(params.get("host") or ""),
        port=int(params.get("port") or 1502),
        unit_id=int(params.get("unit_id") or 1),
        serial=SerialConfig(**serial) if serial else None,
        timeout_s=float(params.get("timeout_s") or 1.0),
    )


def deadline_s(config: InverterConfig) -> float:
    return config.timeout_s * DETECTION_READS + 0.5


def describe_address(config: InverterConfig) -> str:
    if config.serial is not None:
        return f"{config.serial.port} address {config.unit_id}"
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"{host}:{config.port}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def classify(error: BaseException) -> str:
    """What a failed identification means: ``timeout``, ``no_driver``, ``no_answer``, ``wrong_type`` or ``failed``."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, NotImplementedError):
        return "no_driver"
    if isinstance(error, DeviceError):
        return "no_answer" if str(error).lower().startswith(_NO_ANSWER) else "wrong_type"
    return "failed"


def failure_text(config: InverterConfig, outcome: str, error: str) -> str:
    """A failed identification in words, in the reader's language."""
    params = {"where": describe_address(config), "timeout": _seconds(config.timeout_s), "error": error}
    if outcome == "timeout":
        return _("No answer from %(where)s within %(timeout)s s.") % params
    if outcome == "no_driver":
        return _("No driver for this inverter type yet: %(error)s") % params
    if outcome == "no_answer":
        return _("No answer from %(where)s within %(timeout)s s: %(error)s") % params
    if outcome == "wrong_type":
        params["type"] = Inverter.Type(config.type).label if config.type in Inverter.Type.values else config.type
        return _("%(where)s answered, but not as a %(type)s: %(error)s") % params
    return _("Detecting the device at %(where)s failed: %(error)s") % params


def worker_text(error: devicejobs.DeviceJobError, wait_s: float) -> str:
    """A job that did not come back, in words: most often the worker does not run."""
    if error.state == "running":
        return _("The worker took the detection but did not finish it within %(wait)s s.") % {
            "wait": _seconds(round(wait_s, 1))
        }
    return _("No worker took the detection within %(wait)s s: is the worker running?") % {
        "wait": _seconds(round(wait_s, 1))
    }


# --- detection on add and on a changed connection -----------------------------------------------------


def detect_inverter(config: InverterConfig) -> dict[str, Any]:
    """Ask the device who it is, in the worker; :class:`DetectionError` with a message for people
    if it does not answer or no worker does. Returns what the device said (``store_device_info``)."""
    wait_s = deadline_s(config) + PICKUP_S
    try:
        return devicejobs.submit(
            DETECT_KIND, {"config": config_params(config)}, wait_s=wait_s, target=describe_address(config),
            expires_s=wait_s,
        )  # fmt: skip
    except devicejobs.DeviceJobError as error:
        if error.timed_out:
            raise DetectionError(worker_text(error, wait_s)) from error
        outcome = str(error.details.get("outcome") or "failed")
        raise DetectionError(failure_text(config, outcome, str(error.details.get("error", error)))) from error
    except Exception as error:  # Redis or the broker unreachable: a refusal that says so, never a 500
        log.warning("sending a detection to the worker failed", exc_info=True)
        raise DetectionError(
            _("The detection could not be handed to the worker (%(error)s); is Redis running?") % {"error": error}
        ) from error


def _version(value: Any) -> str:
    """A version as people read it: text as reported, a number (major * 100 + minor) as "2.15"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 100}.{value % 100:02d}" if value else ""
    return str(value or "")


def info_fields(info: Mapping[str, Any]) -> dict[str, str]:
    """The inverter's info fields from what identification returned.

    Takes version texts (``hardware``/``software``) where the driver reports them, else the
    numeric versions of :class:`~energy.state.DeviceInfo`.
    """
    hardware = info.get("hardware") or info.get("product_version")
    software = info.get("software") or info.get("firmware_version")
    return {
        "serial_number": str(info.get("serial", ""))[:64],
        "hardware_version": _version(hardware)[:64],
        "software_version": _version(software)[:64],
        "vendor": str(info.get("vendor", ""))[:64],
        "product": str(info.get("product", ""))[:64],
    }


def store_device_info(inverter: Inverter, info: Mapping[str, Any]) -> None:
    """Copy what detection learnt onto the inverter (saved by the caller)."""
    for name, value in info_fields(info).items():
        setattr(inverter, name, value)
    inverter.detected_at = timezone.now()


def needs_detection(inverter: Inverter) -> bool:
    """A new device, or one whose type or address changed, must answer before it is saved."""
    if inverter.pk is None:
        return True
    stored = Inverter.objects.filter(pk=inverter.pk).values(*CONNECTION_FIELDS).first()
    return stored is None or any(stored[name] != getattr(inverter, name) for name in CONNECTION_FIELDS)


def detect_and_store(inverter: Inverter) -> None:
    """Detection for a validated inverter; raises :class:`DetectionError`, stores the info on success."""
    if needs_detection(inverter):
        store_device_info(inverter, detect_inverter(inverter_config(inverter)))


# --- device info in the background and on request -----------------------------------------------------


def info_key(inverter_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:inverters:info:{inverter_id}"


def retry_delay_s(failures: int) -> float:
    """The pause before the next background read after ``failures`` failed ones in a row."""
    if failures <= 0:
        return 0.0
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(failures - 1, 20))


def read_info_state(inverter_id: int) -> dict[str, Any]:
    """The background read's bookkeeping: ``failures``, ``next_at`` (epoch s), ``job_id``."""
    raw = devicejobs.sync_redis().get(info_key(inverter_id))
    return json.loads(raw) if raw else {"failures": 0, "next_at": 0.0, "job_id": ""}


def write_info_state(inverter_id: int, state: dict[str, Any]) -> None:
    devicejobs.sync_redis().set(info_key(inverter_id), json.dumps(state), ex=INFO_TTL_S)


def due_for_info(inverters: Iterable[Inverter], now: float) -> list[Inverter]:
    """Those without device info whose pause after the last failed read is over."""
    return [i for i in inverters if i.detected_at is None and read_info_state(i.pk).get("next_at", 0.0) <= now]


def request_info(inverter: Inverter) -> dict[str, Any]:
    """Send an info job for the inverter (the worker reads and stores it); returns the job's record."""
    record = devicejobs.start(INFO_KIND, {"inverter_id": inverter.pk}, target=f"inverter {inverter.pk}")
    state = read_info_state(inverter.pk)
    state["job_id"] = record["id"]
    # A job that never comes back must not block the next attempt for longer than the pause.
    state["next_at"] = time.time() + max(SWEEP_S, retry_delay_s(int(state.get("failures", 0)) + 1))
    write_info_state(inverter.pk, state)
    return record


def info_job(inverter: Inverter) -> dict[str, Any] | None:
    """The inverter's latest info job as the page and the API show it (``None``: none yet)."""
    try:
        job_id = read_info_state(inverter.pk).get("job_id")
        record = devicejobs.read_job(str(job_id)) if job_id else None
    except redis.RedisError:  # the page still shows the stored info while Redis is down
        return None
    if record is None:
        return None
    return {key: record.get(key) for key in ("id", "state", "progress_pct", "message")}


def info_of(inverter: Inverter) -> dict[str, Any]:
    """The stored device info, as the page's script and the API show it."""
    return {
        "serial": inverter.serial_number,
        "hardware": inverter.hardware_version,
        "software": inverter.software_version,
        "vendor": inverter.vendor,
        "product": inverter.product,
        "detected_at": inverter.detected_at.isoformat() if inverter.detected_at else None,
    }
