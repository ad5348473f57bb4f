"""The device's settings (DEV-2, DEV-5, DEV-7): read, validate and store; the RS485 status; the
device clock (the host's clock plus the stored offset)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from device import validation
from device.models import DeviceSettings
from modbus.models import SerialInterface
from modbus.services import serial_interfaces

# The product does not change the host's network or clock: it runs as an ordinary user inside a
# container or on a general-purpose Linux, where that belongs to the operating system.
NETWORK_APPLIED = False


class Invalid(Exception):
    """Settings refused; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def clean_network(data: dict[str, Any]) -> dict[str, Any]:
    """The network settings in ``data`` checked together; :class:`Invalid` names every bad field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["host_name"] = validation.host_name(str(data.get("host_name", "")))
    except ValueError as error:
        errors["host_name"] = str(error)
    addressing = str(data.get("addressing", "")).strip()
    if addressing not in DeviceSettings.Addressing.values:
        errors["addressing"] = "Choose dhcp or static."
    elif addressing == DeviceSettings.Addressing.DHCP:
        cleaned.update(addressing=addressing, address="", netmask="", gateway="", dns=[])
    else:
        dns = data.get("dns", [])
        if isinstance(dns, str):
            dns = [part for part in dns.replace(",", " ").split() if part]
        if not isinstance(dns, list) or not all(isinstance(entry, str) for entry in dns):
            errors["dns"] = "A list of DNS server addresses."
        else:
            try:
                static = validation.static_network(
                    str(data.get("address", "")), str(data.get("netmask", "")), str(data.get("gateway", "")), dns
                )
            except ValueError as error:
                message = str(error)
                field = next(
                    (
                        f
                        for f, word in (("netmask", "netmask"), ("gateway", "gateway"), ("dns", "DNS"))
                        if word in message
                    ),
                    "address",
                )
                errors[field] = message
            else:
                cleaned.update(
                    addressing=addressing,
                    address=static.address,
                    netmask=static.netmask,
                    gateway=static.gateway,
                    dns=list(static.dns),
                )
    upnp = data.get("upnp_enabled", False)
    if isinstance(upnp, str):
        upnp = upnp.strip().lower() in {"on", "true", "1", "yes"}
    if not isinstance(upnp, bool):
        errors["upnp_enabled"] = "true or false."
    cleaned["upnp_enabled"] = bool(upnp)
    if errors:
        raise Invalid(errors)
    return cleaned


def clean_time(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["time_zone"] = validation.time_zone(str(data.get("time_zone", "")))
    except ValueError as error:
        errors["time_zone"] = str(error)
    enabled = data.get("ntp_enabled", False)
    if isinstance(enabled, str):
        enabled = enabled.strip().lower() in {"on", "true", "1", "yes"}
    if not isinstance(enabled, bool):
        errors["ntp_enabled"] = "true or false."
    cleaned["ntp_enabled"] = bool(enabled)
    server = str(data.get("ntp_server", "") or "")
    if server.strip() or enabled:
        try:
            cleaned["ntp_server"] = validation.server_name(server)
        except ValueError as error:
            errors["ntp_server"] = str(error)
    if errors:
        raise Invalid(errors)
    return cleaned


def save_network(data: dict[str, Any]) -> DeviceSettings:
    cleaned = clean_network(data)
    row = DeviceSettings.load()
    for field, value in cleaned.items():
        setattr(row, field, value)
    row.network_saved_at = timezone.now()
    row.save()
    return row


def save_time(data: dict[str, Any]) -> DeviceSettings:
    """Time zone and NTP. Switching NTP on drops a clock offset set from a browser: the host's
    clock (synchronised by the operating system) is the time again."""
    cleaned = clean_time(data)
    row = DeviceSettings.load()
    for field, value in cleaned.items():
        setattr(row, field, value)
    if row.ntp_enabled:
        row.clock_offset_s = 0.0
    row.time_saved_at = timezone.now()
    row.save()
    return row


def set_time_from_browser(browser_ms: Any) -> DeviceSettings:
    """The browser's clock (milliseconds since 1970, UTC) becomes the device's: stored as the offset
    from the host clock, NTP off (as on the device: a time set by hand replaces NTP)."""
    try:
        value = float(browser_ms)
    except (TypeError, ValueError):
        raise Invalid({"browser_time_ms": "Milliseconds since 1970-01-01 UTC, a number."}) from None
    try:
        offset = validation.clock_offset(value / 1000.0 - timezone.now().timestamp())
    except ValueError as error:
        raise Invalid({"browser_time_ms": str(error)}) from None
    row = DeviceSettings.load()
    row.clock_offset_s = offset
    row.ntp_enabled = False
    row.time_saved_at = timezone.now()
    row.save()
    return row


def device_now(row: DeviceSettings | None = None) -> dt.datetime:
    """The device's time: the host clock plus the offset set from a browser, in the device's zone."""
    row = row or DeviceSettings.load()
    moment = timezone.now() + dt.timedelta(seconds=row.clock_offset_s)
    try:
        return moment.astimezone(zoneinfo.ZoneInfo(row.time_zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return moment


@dataclass
class Rs485Line:
    name: str
    enabled: bool
    device: str
    application: str


def rs485_status() -> list[Rs485Line]:
    """Which application holds RS485 A and B (DEV-5): a device that took the line (an inverter or a
    wallbox), the Modbus RTU slave of the Modbus settings, or nothing (switched off)."""
    defaults = {"A": settings.RS485_A_DEVICE, "B": settings.RS485_B_DEVICE}
    result = []
    for line in serial_interfaces():
        if line.held_by:
            application = line.held_by
        elif line.enabled:
            application = f"Modbus RTU {SerialInterface.Mode(line.mode).label}"
        else:
            application = ""
        result.append(Rs485Line(line.name, line.enabled, line.device or defaults.get(line.name, ""), application))
    return result


def settings_view(row: DeviceSettings | None = None) -> dict[str, Any]:
    row = row or DeviceSettings.load()
    return {
        "network": {
            "host_name": row.host_name,
            "addressing": row.addressing,
            "address": row.address,
            "netmask": row.netmask,
            "gateway": row.gateway,
            "dns": row.dns,
            "upnp_enabled": row.upnp_enabled,
            "saved_at": row.network_saved_at,
            "applied": NETWORK_APPLIED,
        },
        "time": {
            "time_zone": row.time_zone,
            "ntp_enabled": row.ntp_enabled,
            "ntp_server": row.ntp_server,
            "clock_offset_s": row.clock_offset_s,
            "device_time": device_now(row),
            "host_time": timezone.now(),
            "saved_at": row.time_saved_at,
        },
    }
