"""Where the Modbus models meet Redis and the slave process; used by pages, API and ``serve_modbus``.

Redis keys of this app (all under ``settings.REDIS_KEY_PREFIX``):

* ``modbus:wallbox-command:<plant>``: the wallbox command last written over Modbus TLS (JSON);
  the wallbox controller reads it with :func:`read_wallbox_command`.
* ``modbus:master-status``: hash of target id -> JSON status of the Modbus TCP master.

The plant's latest snapshot is read from the key the cycle publishes to
(:func:`redisconn.snapshots.state_key`, the one definition the cycle uses too).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import redisconn
from energy.config import WALLBOX_COMMAND_TIMEOUT_S
from energy.state import DeviceInfo, WallboxCommand
from modbus import registermap, rtu, tls, wallbox_control
from modbus.master import MasterConfig, TargetConfig, TargetStatus
from modbus.models import MAX_TARGETS, ClientCertificate, MasterTarget, ModbusSettings, SerialInterface
from modbus.slave.server import SerialPortConfig, SlaveConfig
from modbus.wallbox_control import WallboxControls
from redisconn.snapshots import state_key

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.25
CONFIG_FORMAT = "ksem-modbus-config"
CONFIG_VERSION = 1


# --- redis -----------------------------------------------------------------------------------
def _key(*parts: object) -> str:
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])


def wallbox_command_key(plant_id: int) -> str:
    return _key("modbus", "wallbox-command", plant_id)


def master_status_key() -> str:
    return _key("modbus", "master-status")


def sync_redis() -> redis.Redis:
    return redisconn.sync_redis(REDIS_TIMEOUT_S)


# --- the served plant and the product's identity --------------------------------------------
def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (this app sits below ``plant``)."""
    model = ModbusSettings._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


def get_settings() -> ModbusSettings:
    instance, _created = ModbusSettings.objects.get_or_create(pk=1)
    return instance


def served_plant_id(modbus_settings: ModbusSettings | None = None) -> int | None:
    modbus_settings = modbus_settings or get_settings()
    if modbus_settings.plant_id is not None:
        return int(modbus_settings.plant_id)
    first = plant_model()._default_manager.filter(is_active=True).order_by("pk").values_list("pk", flat=True).first()
    return int(first) if first is not None else None


def product_info(plant_id: int) -> DeviceInfo:
    return registermap.product_info(plant_id, round(settings.CYCLE_INTERVAL_S * 1000))


# --- RS485 interfaces ------------------------------------------------------------------------
def default_device(name: str) -> str:
    return str(settings.RS485_A_DEVICE if name == "A" else settings.RS485_B_DEVICE)


def serial_interfaces() -> list[SerialInterface]:
    """RS485 A and B, created with their factory presets on first use."""
    existing = {interface.name: interface for interface in SerialInterface.objects.all()}
    for name in rtu.INTERFACES:
        if name not in existing:
            preset = rtu.DEFAULT_PRESET[name]
            line = rtu.PRESETS[preset]
            existing[name], _created = SerialInterface.objects.get_or_create(
                name=name,
                defaults={"preset": preset, **{k: v for k, v in asdict(line).items()}},
            )
    return [existing[name] for name in rtu.INTERFACES]


def apply_preset(interface: SerialInterface) -> None:
    """Choosing a preset sets its line settings; other settings make the preset "user-defined"."""
    preset = rtu.PRESETS.get(interface.preset)
    if preset is not None:
        for field, value in asdict(preset).items():
            setattr(interface, field, value)


def match_preset(interface: SerialInterface) -> None:
    interface.preset = rtu.preset_of(interface.line())


def device_of(interface: SerialInterface) -> str:
    return interface.device or default_device(interface.name)


class InterfaceBusy(Exception):
    """An application asked for an RS485 interface that is still enabled for Modbus here."""


def hold_interface(name: str, application: str) -> None:
    """Give RS485 ``name`` to ``application`` (a wallbox or battery driver), DEV-5.

    Refused while the interface is enabled here: it must first be disabled on the Modbus page.
    """
    interface = next(i for i in serial_interfaces() if i.name == name)
    if interface.enabled:
        raise InterfaceBusy(
            _("RS485 %(name)s is enabled for Modbus; disable it in the Modbus settings first.") % {"name": name}
        )
    interface.held_by = application
    interface.save(update_fields=["held_by"])


def release_interface(name: str) -> None:
    SerialInterface.objects.filter(name=name).update(held_by="")


# --- TLS client certificates -----------------------------------------------------------------
def tls_dir() -> Path:
    return Path(settings.VAR_DIR) / "modbus"


def server_fingerprint() -> str | None:
    identity = tls.identity_paths(tls_dir())
    return identity.fingerprint if identity.cert_path.exists() else None


def load_trust() -> dict[str, str]:
    return dict(ClientCertificate.objects.values_list("fingerprint", "status"))


def record_certificate(der: bytes) -> ClientCertificate:
    certificate, _created = ClientCertificate.objects.get_or_create(
        fingerprint=tls.fingerprint(der), defaults={"subject": tls.subject_of(der)[:500]}
    )
    return certificate


def accept_certificate(certificate: ClientCertificate) -> None:
    certificate.status = ClientCertificate.Status.ACCEPTED
    certificate.accepted_at = timezone.now()
    certificate.save(update_fields=["status", "accepted_at"])


def delete_certificate(certificate: ClientCertificate) -> None:
    """Forget a certificate; the slave closes its open connections within a second."""
    certificate.delete()


# --- wallbox commands (the hand-over to the wallbox controller) ------------------------------
def store_wallbox_command(plant_id: int, controls: WallboxControls, source: str) -> bool:
    """Keep a validated command where the wallbox controller reads it; False if Redis is down."""
    payload = {**asdict(controls), "source": source, "at": dt.datetime.now(dt.UTC).isoformat()}
    try:
        sync_redis().set(wallbox_command_key(plant_id), json.dumps(payload))
    except redis.RedisError as exc:
        log.warning("wallbox command not stored: %s", exc)
        return False
    return True


def read_wallbox_command(plant_id: int) -> dict[str, Any] | None:
    """The command last written over Modbus TLS: mode (lock/grid/pv/hybrid or None = released),
    current_limit_a (None = no limit), source and time; None if there has been none."""
    raw = sync_redis().get(wallbox_command_key(plant_id))
    return json.loads(raw) if raw else None


def wallbox_command_from(raw: bytes | str | None) -> WallboxCommand | None:
    """The stored command (the value of :func:`wallbox_command_key`) as the wallbox control
    takes it, with its expiry; None if there is none or it cannot be read (logged)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        mode = data.get("mode")
        limit = data.get("current_limit_a")
        at = dt.datetime.fromisoformat(data["at"])
        if at.tzinfo is None:
            raise ValueError("time without offset")
        return WallboxCommand(
            mode=None if mode is None else wallbox_control.PRODUCT_MODES[mode],
            current_limit_a=None if limit is None else float(limit),
            at=at,
            expires_at=at + dt.timedelta(seconds=WALLBOX_COMMAND_TIMEOUT_S),
            source=str(data.get("source", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("stored wallbox command not readable, ignored: %s", exc)
        return None


def load_wallbox_controls(plant_id: int) -> WallboxControls:
    """The command in force for the slave's registers: released once it has expired."""
    try:
        command = read_wallbox_command(plant_id)
    except redis.RedisError:
        command = None
    if not command:
        return WallboxControls()
    parsed = wallbox_command_from(json.dumps(command))
    if parsed is None or not parsed.in_force(dt.datetime.now(dt.UTC)):
        return WallboxControls()
    return WallboxControls(mode=command.get("mode"), current_limit_a=command.get("current_limit_a"))


# --- master status ---------------------------------------------------------------------------
def write_target_statuses(statuses: dict[int, TargetStatus]) -> None:
    store = sync_redis()
    try:
        pipe = store.pipeline()
        pipe.delete(master_status_key())
        if statuses:
            pipe.hset(master_status_key(), mapping={str(k): json.dumps(asdict(v)) for k, v in statuses.items()})
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("Modbus master status not stored: %s", exc)


def read_target_statuses() -> dict[int, dict[str, Any]]:
    """Per target id: last_success / last_error_at (epoch s or None), last_error, pushes, failures."""
    try:
        raw = sync_redis().hgetall(master_status_key())
    except redis.RedisError:
        return {}
    return {int(k): json.loads(v) for k, v in raw.items()}


def target_status(statuses: dict[int, dict[str, Any]], target_id: int) -> dict[str, Any]:
    status = statuses.get(target_id) or {}

    def when(value: float | None) -> dt.datetime | None:
        return dt.datetime.fromtimestamp(value, dt.UTC) if value else None

    return {
        "last_success": when(status.get("last_success")),
        "last_error": status.get("last_error", ""),
        "last_error_at": when(status.get("last_error_at")),
    }


# --- the slave's configuration ---------------------------------------------------------------
def master_config(modbus_settings: ModbusSettings) -> MasterConfig:
    targets = tuple(
        TargetConfig(t.pk, t.host, t.port, t.unit_id) for t in MasterTarget.objects.filter(enabled=True)[:MAX_TARGETS]
    )
    interval = float(modbus_settings.push_interval_s) if modbus_settings.push_mode == "interval" else None
    return MasterConfig(
        enabled=modbus_settings.master_enabled,
        targets=targets,
        groups=modbus_settings.push_groups(),
        interval_s=interval,
        average=modbus_settings.push_average and interval is not None,
    )


def load_slave_config() -> SlaveConfig:
    modbus_settings = get_settings()
    serial = tuple(
        SerialPortConfig(i.name, device_of(i), i.line())
        for i in serial_interfaces()
        if i.enabled and not i.held_by and i.mode == rtu.SLAVE and device_of(i)
    )
    return SlaveConfig(
        plant_id=served_plant_id(modbus_settings),
        tcp_enabled=modbus_settings.slave_enabled,
        tls_enabled=modbus_settings.tls_enabled,
        serial=serial,
        master=master_config(modbus_settings),
    )


class ServiceBackend:
    """The slave's :class:`~modbus.slave.server.Backend`: database, Redis, settings."""

    def __init__(self) -> None:
        self._redis: aioredis.Redis | None = None

    def load_config(self) -> SlaveConfig:
        from django.db import close_old_connections

        close_old_connections()
        return load_slave_config()

    def load_trust(self) -> dict[str, str]:
        return load_trust()

    def record_certificate(self, der: bytes) -> None:
        record_certificate(der)

    def store_command(self, plant_id: int, controls: WallboxControls, source: str) -> bool:
        return store_wallbox_command(plant_id, controls, source)

    def load_command(self, plant_id: int) -> WallboxControls:
        return load_wallbox_controls(plant_id)

    def write_target_statuses(self, statuses: dict[int, TargetStatus]) -> None:
        write_target_statuses(statuses)

    async def read_snapshot(self, plant_id: int) -> bytes | None:
        if self._redis is None:
            self._redis = redisconn.async_redis(1.0)
        try:
            raw = await self._redis.get(state_key(plant_id))
        except redis.RedisError as exc:
            log.debug("snapshot not read: %s", exc)
            return None
        if not raw:
            return None
        return raw if isinstance(raw, bytes) else str(raw).encode()

    def product_info(self, plant_id: int) -> DeviceInfo:
        return product_info(plant_id)


# --- export and import of the whole configuration (MB-5) -------------------------------------
SETTINGS_FIELDS = (
    "slave_enabled",
    "tls_enabled",
    "master_enabled",
    "push_total",
    "push_phases",
    "push_energy_total",
    "push_energy_phases",
    "push_mode",
    "push_interval_s",
    "push_average",
)
SERIAL_FIELDS = ("name", "enabled", "device", "preset", "mode", "address", "baudrate", "bytesize", "parity", "stopbits")
TARGET_FIELDS = ("host", "port", "unit_id", "enabled")
CERTIFICATE_FIELDS = ("fingerprint", "subject", "status")


class ConfigFileError(ValueError):
    """The file cannot be imported; the message names the problem. Nothing was changed."""


def export_config() -> dict[str, Any]:
    modbus_settings = get_settings()
    return {
        "format": CONFIG_FORMAT,
        "version": CONFIG_VERSION,
        "settings": {field: getattr(modbus_settings, field) for field in SETTINGS_FIELDS},
        "serial_interfaces": [{f: getattr(i, f) for f in SERIAL_FIELDS} for i in serial_interfaces()],
        "targets": [{f: getattr(t, f) for f in TARGET_FIELDS} for t in MasterTarget.objects.all()],
        "certificates": [{f: getattr(c, f) for f in CERTIFICATE_FIELDS} for c in ClientCertificate.objects.all()],
    }


def _entry(data: Any, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigFileError(_("%(where)s must be an object.") % {"where": where})
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigFileError(_("%(where)s: unknown key %(key)s.") % {"where": where, "key": unknown[0]})
    missing = [f for f in fields if f not in data]
    if missing:
        raise ConfigFileError(_("%(where)s: %(key)s is missing.") % {"where": where, "key": missing[0]})
    for field, value in data.items():
        if not isinstance(value, str | int | float | bool) or value is None:
            raise ConfigFileError(_("%(where)s.%(key)s has no valid value.") % {"where": where, "key": field})
    return data


def _check(instance: models.Model, where: str, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ConfigFileError(
            _("%(where)s.%(key)s: %(message)s") % {"where": where, "key": field, "message": " ".join(messages)}
        ) from None


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise ConfigFileError(_("%(key)s must be a list.") % {"key": key})
    return value


def parse_config(raw: bytes) -> dict[str, Any]:
    """The validated content of an exported file; ``ConfigFileError`` naming the first problem."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigFileError(_("The file is not a JSON document (%(error)s).") % {"error": exc}) from None
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise ConfigFileError(_("This is not a Modbus configuration file of this product."))
    if data.get("version") != CONFIG_VERSION:
        raise ConfigFileError(
            _("Configuration file version %(version)s is not supported (expected %(expected)s).")
            % {"version": data.get("version"), "expected": CONFIG_VERSION}
        )
    unknown = sorted(set(data) - {"format", "version", "settings", "serial_interfaces", "targets", "certificates"})
    if unknown:
        raise ConfigFileError(_("Unknown section %(key)s.") % {"key": unknown[0]})
    settings_data = _entry(data.get("settings"), SETTINGS_FIELDS, "settings")
    _check(ModbusSettings(**settings_data), "settings", exclude=["plant"])
    serial = _list(data, "serial_interfaces")
    names = []
    for n, entry in enumerate(serial):
        where = f"serial_interfaces[{n}]"
        _check(SerialInterface(**_entry(entry, SERIAL_FIELDS, where)), where)
        names.append(entry["name"])
    if sorted(names) != sorted(rtu.INTERFACES):
        raise ConfigFileError(_("serial_interfaces must hold RS485 A and B once each."))
    targets = _list(data, "targets")
    if len(targets) > MAX_TARGETS:
        raise ConfigFileError(_("At most %(n)d master targets are possible.") % {"n": MAX_TARGETS})
    for n, entry in enumerate(targets):
        where = f"targets[{n}]"
        _check(MasterTarget(**_entry(entry, TARGET_FIELDS, where)), where)
    certificates = _list(data, "certificates")
    seen = set()
    for n, entry in enumerate(certificates):
        where = f"certificates[{n}]"
        _check(ClientCertificate(**_entry(entry, CERTIFICATE_FIELDS, where)), where)
        if entry["fingerprint"] in seen:
            raise ConfigFileError(_("%(where)s: the fingerprint appears twice.") % {"where": where})
        seen.add(entry["fingerprint"])
    return data


@transaction.atomic
def import_config(raw: bytes) -> None:
    """Replace the whole Modbus configuration by the file's; a bad file changes nothing."""
    data = parse_config(raw)
    modbus_settings = get_settings()
    for field, value in data["settings"].items():
        setattr(modbus_settings, field, value)
    modbus_settings.full_clean(exclude=["plant"])
    modbus_settings.save()
    held = dict(SerialInterface.objects.values_list("name", "held_by"))
    for entry in data["serial_interfaces"]:
        interface = SerialInterface.objects.get(name=entry["name"]) if entry["name"] in held else SerialInterface()
        for field, value in entry.items():
            setattr(interface, field, value)
        interface.held_by = held.get(entry["name"], "")
        if interface.held_by:
            interface.enabled = False
        interface.full_clean()
        interface.save()
    MasterTarget.objects.all().delete()
    for entry in data["targets"]:
        target = MasterTarget(**entry)
        target.full_clean()
        target.save()
    ClientCertificate.objects.all().delete()
    for entry in data["certificates"]:
        certificate = ClientCertificate(**entry)
        if certificate.status == ClientCertificate.Status.ACCEPTED:
            certificate.accepted_at = timezone.now()
        certificate.full_clean()
        certificate.save()
