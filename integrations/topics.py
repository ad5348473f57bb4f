"""What the MQTT bridge publishes: a plant's snapshot as state topics, and Home Assistant discovery.

Pure: no Django, no sockets. ``state_topics`` turns one :class:`~energy.state.PlantState` into
``{topic: payload}`` (plain text payloads, retained by the bridge); ``discovery_messages`` turns it
into Home Assistant's MQTT discovery configs (``homeassistant/<component>/<node>/<object>/config``),
one device per meter, inverter, battery and wallbox, with device classes, state classes and units
that the Energy dashboard takes as they are. The bridge (``integrations.bridge``) publishes only
what changed.

Layout under ``<prefix>/<plant id>/`` (docs/mqtt.md lists every topic)::

    grid/power_w  grid/l1/power_w ... grid/import_wh  grid/export_wh  grid/l1/import_wh ...
    pv/power_w  house/power_w  battery/power_w  battery/soc_pct  battery/charge_limit_w ...
    inverter/<slug>/ac_power_w ...  wallbox/<slug>/mode ...  controller/<slug>/state ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from energy.config import CHARGING_MODES
from energy.state import PlantState

DISCOVERY_PREFIX = "homeassistant"
PRESS = "PRESS"
UNKNOWN = "None"  # Home Assistant's MQTT sensors take this payload as "unknown"
MIN_CURRENT_RANGE_A = (6.0, 16.0)
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")


def slug(name: str) -> str:
    """A topic level from a device name: lower case letters, digits and ``_`` only."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return text or "unnamed"


def plant_base(prefix: str, plant_id: int) -> str:
    return f"{prefix}/{plant_id}"


def availability_topic(prefix: str) -> str:
    """The bridge's availability: ``online`` while connected, ``offline`` (its last will) otherwise."""
    return f"{prefix}/bridge/availability"


def command_filter(prefix: str) -> str:
    """Every command topic of every plant: ``<prefix>/<plant>/wallbox/<slug>/<what>/set``."""
    return f"{prefix}/+/wallbox/+/+/set"


def _number(value: float | None, decimals: int) -> str:
    if value is None:
        return UNKNOWN
    if decimals == 0:
        return str(round(value))
    return f"{value:.{decimals}f}"


def _onoff(value: bool) -> str:
    return "ON" if value else "OFF"


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity: its component, the topic level under the plant, and its classes."""

    component: str  # sensor, binary_sensor, select, number, button
    key: str  # topic under <prefix>/<plant>/ (state), or the command's base for buttons
    name: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    icon: str | None = None


POWER = {"unit": "W", "device_class": "power", "state_class": "measurement"}
ENERGY = {"unit": "Wh", "device_class": "energy", "state_class": "total_increasing"}
VOLTAGE = {"unit": "V", "device_class": "voltage", "state_class": "measurement"}
CURRENT = {"unit": "A", "device_class": "current", "state_class": "measurement"}
FREQUENCY = {"unit": "Hz", "device_class": "frequency", "state_class": "measurement"}
BATTERY = {"unit": "%", "device_class": "battery", "state_class": "measurement"}
PERCENT = {"unit": "%", "state_class": "measurement"}


def _sensor(key: str, name: str, kind: dict[str, str]) -> Entity:
    return Entity("sensor", key, name, kind.get("unit"), kind.get("device_class"), kind.get("state_class"))


def _text(key: str, name: str) -> Entity:
    return Entity("sensor", key, name)


def _flag(key: str, name: str, device_class: str | None) -> Entity:
    return Entity("binary_sensor", key, name, device_class=device_class)


@dataclass(frozen=True, slots=True)
class Device:
    """One Home Assistant device: the meter, an inverter, the battery or a wallbox."""

    ident: str  # unique within the plant: meter, inverter_<slug>, battery, wallbox_<slug>
    name: str
    model: str
    entities: tuple[Entity, ...]


def _devices(state: PlantState) -> list[tuple[Device, dict[str, str]]]:
    """Every device with its entities and their current payloads (``{key: payload}``)."""
    result: list[tuple[Device, dict[str, str]]] = []
    flow = state.flow
    meter = state.meter
    values: dict[str, str] = {
        "timestamp": state.timestamp.isoformat(),
        "meter/online": _onoff(state.meter_status.online),
        "grid/power_w": _number(flow.grid_power_w, 0),
        "grid/import_wh": _number(state.totals.active_import_wh, 0),
        "grid/export_wh": _number(state.totals.active_export_wh, 0),
        "pv/power_w": _number(flow.pv_power_w, 0),
        "house/power_w": _number(flow.house_power_w, 0),
        "wallboxes/power_w": _number(flow.wallbox_power_w, 0),
        "feed_in_limit_w": _number(state.feed_in_limit_w, 0),
        "grid/frequency_hz": _number(meter.frequency_hz if meter else None, 2),
        "grid/power_factor": _number(meter.power_factor if meter else None, 3),
    }
    entities = [
        Entity("sensor", "timestamp", "Last measurement", device_class="timestamp"),
        _flag("meter/online", "Meter online", "connectivity"),
        _sensor("grid/power_w", "Grid power", POWER),
        _sensor("grid/import_wh", "Grid import", ENERGY),
        _sensor("grid/export_wh", "Grid export", ENERGY),
        _sensor("pv/power_w", "PV power", POWER),
        _sensor("house/power_w", "House consumption", POWER),
        _sensor("wallboxes/power_w", "Wallboxes power", POWER),
        _sensor("feed_in_limit_w", "Feed-in limit", POWER),
        _sensor("grid/frequency_hz", "Grid frequency", FREQUENCY),
        Entity("sensor", "grid/power_factor", "Power factor", None, "power_factor", "measurement"),
    ]
    for index, totals in enumerate(state.phase_totals, start=1):
        phase = f"grid/l{index}"
        reading = meter.phases[index - 1] if meter else None
        values[f"{phase}/power_w"] = _number(reading.active_power_w if reading else None, 0)
        values[f"{phase}/voltage_v"] = _number(reading.voltage_v if reading else None, 1)
        values[f"{phase}/current_a"] = _number(reading.current_a if reading else None, 2)
        values[f"{phase}/import_wh"] = _number(totals.active_import_wh, 0)
        values[f"{phase}/export_wh"] = _number(totals.active_export_wh, 0)
        entities += [
            _sensor(f"{phase}/power_w", f"L{index} power", POWER),
            _sensor(f"{phase}/voltage_v", f"L{index} voltage", VOLTAGE),
            _sensor(f"{phase}/current_a", f"L{index} current", CURRENT),
            _sensor(f"{phase}/import_wh", f"L{index} import", ENERGY),
            _sensor(f"{phase}/export_wh", f"L{index} export", ENERGY),
        ]
    for controller in state.controllers:
        key = f"controller/{slug(controller.name)}"
        values[f"{key}/state"] = controller.state
        values[f"{key}/reason"] = controller.reason or controller.error
        entities += [
            _text(f"{key}/state", f"{controller.name} state"),
            _text(f"{key}/reason", f"{controller.name} reason"),
        ]
    result.append((Device("meter", "Smart Energy Meter", "KSEM", tuple(entities)), values))

    for inverter in state.inverters:
        key = f"inverter/{slug(inverter.name)}"
        values = {
            f"{key}/online": _onoff(inverter.status.online),
            f"{key}/ac_power_w": _number(inverter.ac_power_w, 0),
            f"{key}/dc_power_w": _number(inverter.dc_power_w, 0),
            f"{key}/limit_pct": _number(inverter.limit_pct, 1),
        }
        entities = [
            _flag(f"{key}/online", "Online", "connectivity"),
            _sensor(f"{key}/ac_power_w", "AC power", POWER),
            _sensor(f"{key}/dc_power_w", "DC power", POWER),
            _sensor(f"{key}/limit_pct", "Active power limit", PERCENT),
        ]
        result.append(
            (Device(f"inverter_{slug(inverter.name)}", inverter.name, inverter.type, tuple(entities)), values)
        )

    battery = state.battery
    if battery is not None:
        key = "battery"
        values = {
            f"{key}/online": _onoff(battery.status.online),
            f"{key}/power_w": _number(battery.power_w, 0),
            f"{key}/soc_pct": _number(battery.soc_pct, 1),
            f"{key}/charge_limit_w": _number(battery.charge_limit_w, 0),
            f"{key}/charge_limit_reason": battery.charge_limit_reason,
            f"{key}/discharge_limit_w": _number(battery.discharge_limit_w, 0),
            f"{key}/discharge_limit_reason": battery.discharge_limit_reason,
        }
        entities = [
            _flag(f"{key}/online", "Online", "connectivity"),
            _sensor(f"{key}/power_w", "Power (charge +)", POWER),
            _sensor(f"{key}/soc_pct", "State of charge", BATTERY),
            _sensor(f"{key}/charge_limit_w", "Charge limit", POWER),
            _text(f"{key}/charge_limit_reason", "Charge limit reason"),
            _sensor(f"{key}/discharge_limit_w", "Discharge limit", POWER),
            _text(f"{key}/discharge_limit_reason", "Discharge limit reason"),
        ]
        result.append((Device("battery", battery.name, "House battery", tuple(entities)), values))
    else:
        values = {
            "battery/power_w": _number(flow.battery_power_w, 0),
            "battery/soc_pct": _number(flow.battery_soc_pct, 1),
        }
        if flow.battery_power_w is not None or flow.battery_soc_pct is not None:
            entities = [
                _sensor("battery/power_w", "Power (charge +)", POWER),
                _sensor("battery/soc_pct", "State of charge", BATTERY),
            ]
            result.append((Device("battery", "Battery", "House battery", tuple(entities)), values))

    for box in state.wallboxes:
        key = f"wallbox/{slug(box.name)}"
        values = {
            f"{key}/online": _onoff(box.status.online),
            f"{key}/state": box.state,
            f"{key}/mode": box.configured_mode,
            f"{key}/active_mode": box.mode,
            f"{key}/reason": box.reason,
            f"{key}/power_w": _number(box.power_w, 0),
            f"{key}/current_a": _number(box.current_a, 2),
            f"{key}/phases": _number(box.phases, 0),
            f"{key}/vehicle_connected": _onoff(box.vehicle_connected),
            f"{key}/session_energy_wh": _number(box.session_energy_wh, 0),
        }
        entities = [
            _flag(f"{key}/online", "Online", "connectivity"),
            _text(f"{key}/state", "State"),
            Entity("select", f"{key}/mode", "Charging mode", icon="mdi:ev-station"),
            _text(f"{key}/active_mode", "Mode in force"),
            _text(f"{key}/reason", "Reason"),
            _sensor(f"{key}/power_w", "Charging power", POWER),
            _sensor(f"{key}/current_a", "Charging current", CURRENT),
            _text(f"{key}/phases", "Phases"),
            _flag(f"{key}/vehicle_connected", "Vehicle connected", "plug"),
            _sensor(f"{key}/session_energy_wh", "Session energy", {**ENERGY, "state_class": "total"}),
            Entity("number", f"{key}/min_current_a", "Minimum charging current", "A", "current"),
            Entity("button", f"{key}/pause", "Pause charging", icon="mdi:pause"),
            Entity("button", f"{key}/resume", "Resume charging", icon="mdi:play"),
        ]
        result.append((Device(f"wallbox_{slug(box.name)}", box.name, box.type, tuple(entities)), values))
    return result


def state_topics(prefix: str, state: PlantState) -> dict[str, str]:
    """Every state topic of the plant with its payload (``None`` where the value is unknown)."""
    base = plant_base(prefix, state.plant_id)
    topics: dict[str, str] = {}
    for _device, values in _devices(state):
        for key, payload in values.items():
            topics[f"{base}/{key}"] = payload
    # Last: a client that sees a cycle's timestamp has every value of that cycle.
    topics[f"{base}/timestamp"] = topics.pop(f"{base}/timestamp")
    return topics


def _discovery_payload(
    entity: Entity, device: Device, base: str, prefix: str, plant_id: int, plant_name: str
) -> dict[str, Any]:
    unique = f"ksem_{slug(prefix)}_{plant_id}_{slug(entity.key)}"
    payload: dict[str, Any] = {
        "name": entity.name,
        "unique_id": unique,
        "availability_topic": availability_topic(prefix),
        "device": {
            "identifiers": [f"ksem_{slug(prefix)}_{plant_id}_{device.ident}"],
            "name": device.name if device.ident == "meter" else f"{device.name} ({plant_name})",
            "manufacturer": "KOSTAL",
            "model": device.model,
        },
    }
    if device.ident != "meter":
        payload["device"]["via_device"] = f"ksem_{slug(prefix)}_{plant_id}_meter"
    if entity.component in {"sensor", "binary_sensor", "select"}:
        payload["state_topic"] = f"{base}/{entity.key}"
    if entity.unit is not None:
        payload["unit_of_measurement"] = entity.unit
    if entity.device_class is not None:
        payload["device_class"] = entity.device_class
    if entity.state_class is not None:
        payload["state_class"] = entity.state_class
    if entity.icon is not None:
        payload["icon"] = entity.icon
    if entity.component == "select":
        payload["command_topic"] = f"{base}/{entity.key}/set"
        payload["options"] = list(CHARGING_MODES)
    elif entity.component == "number":
        payload["command_topic"] = f"{base}/{entity.key}/set"
        payload["state_topic"] = f"{base}/{entity.key}"
        payload["min"], payload["max"] = MIN_CURRENT_RANGE_A
        payload["step"] = 0.1
        payload["mode"] = "box"
    elif entity.component == "button":
        payload["command_topic"] = f"{base}/{entity.key}/set"
        payload["payload_press"] = PRESS
    elif entity.component == "binary_sensor":
        payload["payload_on"], payload["payload_off"] = "ON", "OFF"
    return payload


def discovery_messages(prefix: str, state: PlantState, plant_name: str) -> dict[str, dict[str, Any]]:
    """Home Assistant discovery configs of the plant: ``{config topic: payload}``.

    The number's state (a wallbox's minimum current) is a setting, not in the snapshot: the
    bridge publishes it from the wallbox's settings (``wallbox/<slug>/min_current_a``)."""
    base = plant_base(prefix, state.plant_id)
    node = f"ksem_{slug(prefix)}_{state.plant_id}"
    messages: dict[str, dict[str, Any]] = {}
    for device, _values in _devices(state):
        for entity in device.entities:
            topic = f"{DISCOVERY_PREFIX}/{entity.component}/{node}/{slug(entity.key)}/config"
            messages[topic] = _discovery_payload(entity, device, base, prefix, state.plant_id, plant_name)
    return messages


def command_entities(state: PlantState) -> Iterable[str]:
    """The command topic levels of the plant (``wallbox/<slug>/<what>``), for documentation and tests."""
    for device, _values in _devices(state):
        for entity in device.entities:
            if entity.component in {"select", "number", "button"}:
                yield entity.key
