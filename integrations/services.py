"""The bridge's settings, its status in Redis, the connection test, and commands from MQTT.

Commands go through what the API uses: the wallbox serializers' validation, ``portal.roles``
(as the configured user) and the wallbox's own save, which announces the change to the next
cycle; nothing here writes to a device.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

import redisconn
from integrations import secret
from integrations.config import BrokerConfig, parse_url
from integrations.models import MqttSettings
from integrations.topics import PRESS, slug
from portal.roles import CHARGING, SETTINGS, may_change
from wallbox import configs, rules
from wallbox.api.serializers import ChargingSerializer, WallboxSerializer
from wallbox.models import Wallbox
from wallbox.views import latest_state

log = logging.getLogger("integrations.mqtt")

STATUS_TTL_S = 30
MAX_PAYLOAD_BYTES = 64


def broker_config() -> BrokerConfig:
    """The settings in force: the page's row once saved, else ``KSEM_MQTT_URL``, else off."""
    row = MqttSettings.objects.filter(pk=1).first()
    if row is None:
        return parse_url(settings.MQTT_URL) if settings.MQTT_URL else BrokerConfig()
    return from_row(row)


def from_row(row: MqttSettings) -> BrokerConfig:
    return BrokerConfig(
        enabled=row.enabled,
        host=row.host,
        port=row.port,
        tls=row.tls,
        ca_pem=row.ca_certificate,
        username=row.username,
        password=secret.decrypt(row.password_encrypted),
        prefix=row.prefix,
        discovery=row.discovery,
        min_interval_s=row.min_interval_s,
        command_user_id=row.command_user_id,
        source="page",
    )


def settings_row() -> MqttSettings:
    """The row to edit: the stored one, or a new one holding what is in force (``KSEM_MQTT_URL``)."""
    row = MqttSettings.objects.filter(pk=1).first()
    if row is not None:
        return row
    config = broker_config()
    return MqttSettings(
        pk=1,
        enabled=config.enabled,
        host=config.host,
        port=config.port,
        tls=config.tls,
        username=config.username,
        password_encrypted=secret.encrypt(config.password),
        prefix=config.prefix,
        discovery=config.discovery,
    )


def set_password(row: MqttSettings, password: str | None) -> None:
    """``None`` keeps the stored password, ``""`` clears it."""
    if password is not None:
        row.password_encrypted = secret.encrypt(password)


# --- status ----------------------------------------------------------------------------------


def status_key() -> str:
    return redisconn.key("mqtt", "status")


def write_status(data: dict[str, Any]) -> None:
    try:
        redisconn.sync_redis().set(status_key(), json.dumps(data), ex=STATUS_TTL_S)
    except redis.RedisError as exc:
        log.warning("MQTT status not stored (Redis): %s", exc)


def read_status() -> dict[str, Any]:
    """What ``serve_mqtt`` last reported; ``state`` = ``not running`` when it reported nothing lately."""
    try:
        raw = redisconn.sync_redis().get(status_key())
    except redis.RedisError as exc:
        return {"state": "unknown", "error": f"Redis: {exc}"}
    if not raw:
        return {"state": "not running", "error": "serve_mqtt has not reported in the last 30 s"}
    data: dict[str, Any] = json.loads(raw)
    return data


# --- the connection -------------------------------------------------------------------------


def new_client(config: BrokerConfig, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if config.username:
        client.username_pw_set(config.username, config.password or None)
    if config.tls:
        context = ssl.create_default_context(cadata=config.ca_pem or None)
        if not config.ca_pem:
            context.load_default_certs()
        client.tls_set_context(context)
    return client


def test_connection(config: BrokerConfig, timeout_s: float = 5.0) -> tuple[bool, str]:  # noqa: PT028
    """Connect once with ``config`` and disconnect: (ok, message for people)."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        outcome["reason"] = reason
        done.set()

    try:
        client = new_client(config, client_id=f"ksem-test-{time.monotonic_ns()}")
    except ssl.SSLError as exc:
        return False, f"the CA certificate is not valid: {exc}"
    client.on_connect = on_connect
    try:
        client.connect(config.host, config.port, keepalive=10)
    except (OSError, ssl.SSLError, UnicodeError, ValueError) as exc:
        return False, f"cannot connect to {config.describe()}: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return False, f"{config.describe()} did not answer within {timeout_s:g} s"
        reason = outcome["reason"]
        if reason.is_failure:
            return False, f"{config.describe()} refused the connection: {reason}"
        return True, f"connected to {config.describe()}"
    finally:
        client.disconnect()
        client.loop_stop()


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    message: str


ACTIONS = {"mode": CHARGING, "pause": CHARGING, "resume": CHARGING, "min_current_a": SETTINGS}


def _refused(topic: str, message: str) -> CommandResult:
    log.warning("MQTT command on %s ignored: %s", topic, message)
    return CommandResult(False, message)


def apply_command(config: BrokerConfig, topic: str, payload: bytes) -> CommandResult:
    """One command from MQTT, as the API would take it: validated, with the configured user's roles.

    ``<prefix>/<plant>/wallbox/<slug>/<mode|min_current_a|pause|resume>/set``. Whatever is wrong
    (topic, payload, plant, box, role) is logged and changes nothing."""
    head = f"{config.prefix}/"
    if not topic.startswith(head):
        return _refused(topic, "not under the prefix")
    levels = topic[len(head) :].split("/")
    if len(levels) != 5 or levels[1] != "wallbox" or levels[4] != "set":
        return _refused(topic, "not a command topic")
    plant_ref, _kind, box_slug, action, _set = levels
    if action not in ACTIONS:
        return _refused(topic, f"unknown command {action!r}; known: {', '.join(ACTIONS)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return _refused(topic, f"payload longer than {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return _refused(topic, "payload is not UTF-8 text")
    if not plant_ref.isdigit():
        return _refused(topic, f"plant {plant_ref!r} is not a plant number")
    plant = configs.plant_model()._default_manager.filter(pk=int(plant_ref)).first()
    if plant is None:
        return _refused(topic, f"no plant {plant_ref}")
    if not configs.option_active(plant):
        return _refused(topic, "the wallbox functions are not activated for this plant")
    box = next((b for b in Wallbox.objects.filter(plant_id=plant.pk) if slug(b.name) == box_slug), None)
    if box is None:
        return _refused(topic, f"no wallbox {box_slug!r} in plant {plant_ref}")
    user = None
    if config.command_user_id is not None:
        user = get_user_model().objects.filter(pk=config.command_user_id, is_active=True).first()
    if user is None:
        return _refused(topic, "no user is configured for commands (MQTT settings)")
    if not may_change(user, plant, ACTIONS[action]):
        return _refused(topic, f"user {user.get_username()!r} may not change this ({ACTIONS[action]})")
    if action in {"pause", "resume"}:
        if text != PRESS:
            return _refused(topic, f"payload {text!r}: a button sends {PRESS}")
        rules.set_manual_pause(box, action == "pause")
        return _accepted(topic, box, f"{action}d")
    if action == "mode":
        serializer: Any = ChargingSerializer(box, data={"mode": text}, partial=True)
    else:
        try:
            value = float(text)
        except ValueError:
            return _refused(topic, f"payload {text!r} is not a number")
        context = {"plant": plant, "state": latest_state(plant)}
        serializer = WallboxSerializer(box, data={"min_current_a": value}, partial=True, context=context)
    if not serializer.is_valid():
        errors = "; ".join(f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in serializer.errors.items())
        return _refused(topic, errors)
    with transaction.atomic():
        serializer.save()
    return _accepted(topic, box, f"{action} = {text}")


def _accepted(topic: str, box: Wallbox, what: str) -> CommandResult:
    log.info("MQTT command on %s: %s %s", topic, box.name, what)
    return CommandResult(True, f"{box.name}: {what}")


def wallbox_settings_topics(prefix: str, plant_id: int) -> dict[str, str]:
    """State topics that are settings rather than measurements (a box's minimum current)."""
    return {
        f"{prefix}/{plant_id}/wallbox/{slug(box.name)}/min_current_a": f"{box.min_current_a:.1f}"
        for box in Wallbox.objects.filter(plant_id=plant_id)
    }


def active_plants() -> dict[int, str]:
    return dict(configs.plant_model()._default_manager.filter(is_active=True).values_list("pk", "name"))
