"""What the bridge publishes, without a broker: state topics from a snapshot, Home Assistant
discovery configs valid for its MQTT schema, and ``KSEM_MQTT_URL``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import CHARGING_MODES
from integrations.config import BrokerConfig, parse_url
from integrations.tests.states import full_state
from integrations.topics import (
    DISCOVERY_PREFIX,
    PREFIX_PATTERN,
    UNKNOWN,
    availability_topic,
    discovery_messages,
    slug,
    state_topics,
)

# Home Assistant's MQTT discovery (integration "mqtt", components sensor, binary_sensor, select,
# number, button): the keys each one needs, the keys it accepts, and the units it accepts per
# device class; the Energy dashboard takes an energy sensor only with state_class total or
# total_increasing and a unit of energy.
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "select": {"command_topic", "options"},
    "number": {"command_topic"},
    "button": {"command_topic"},
}
COMMON = {"name", "unique_id", "availability_topic", "device", "icon", "device_class", "state_topic"}
ACCEPTED = {
    "sensor": COMMON | {"unit_of_measurement", "state_class"},
    "binary_sensor": COMMON | {"payload_on", "payload_off"},
    "select": COMMON | {"command_topic", "options"},
    "number": COMMON | {"command_topic", "min", "max", "step", "mode", "unit_of_measurement"},
    "button": COMMON | {"command_topic", "payload_press"},
}
UNITS: dict[str, set[str | None]] = {
    "power": {"W", "kW"},
    "energy": {"Wh", "kWh", "MWh"},
    "voltage": {"V", "mV", "kV"},
    "current": {"A", "mA"},
    "frequency": {"Hz", "kHz"},
    "battery": {"%"},
    "power_factor": {None, "%"},
    "timestamp": {None},
}
BINARY_CLASSES = {"connectivity", "plug", "power", "problem", "running", "battery_charging"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}


def check_home_assistant(topic: str, payload: dict) -> None:
    """Raises AssertionError naming what Home Assistant would reject in one discovery message."""
    levels = topic.split("/")
    assert levels[0] == DISCOVERY_PREFIX and levels[-1] == "config" and len(levels) == 5, topic
    component = levels[1]
    assert component in REQUIRED, f"{topic}: unknown component"
    assert REQUIRED[component] <= payload.keys(), f"{topic}: missing {REQUIRED[component] - payload.keys()}"
    assert payload.keys() <= ACCEPTED[component], f"{topic}: unknown keys {payload.keys() - ACCEPTED[component]}"
    assert payload["unique_id"] and payload["name"]
    device = payload["device"]
    assert device["identifiers"] and device["name"] and device["manufacturer"] and device["model"]
    for key in ("state_topic", "command_topic", "availability_topic"):
        if key in payload:
            assert "+" not in payload[key] and "#" not in payload[key], f"{topic}: wildcard in {key}"
    device_class = payload.get("device_class")
    unit = payload.get("unit_of_measurement")
    if component == "binary_sensor":
        assert device_class is None or device_class in BINARY_CLASSES, f"{topic}: {device_class}"
    elif device_class is not None:
        assert unit in UNITS[device_class], f"{topic}: {unit!r} is no unit of {device_class}"
    if "state_class" in payload:
        assert payload["state_class"] in STATE_CLASSES
        assert device_class != "timestamp"
    if device_class == "energy":
        assert payload.get("state_class") in {"total", "total_increasing"}, f"{topic}: energy needs a total"
    if component == "select":
        assert payload["options"] and len(set(payload["options"])) == len(payload["options"])
    if component == "number":
        assert payload["min"] < payload["max"] and payload["step"] > 0


def test_every_discovery_message_is_valid_for_home_assistant():
    messages = discovery_messages("ksem", full_state(), "Home")
    for topic, payload in messages.items():
        check_home_assistant(topic, json.loads(json.dumps(payload)))
    unique_ids = [payload["unique_id"] for payload in messages.values()]
    assert len(unique_ids) == len(set(unique_ids))


def test_the_energy_dashboard_takes_the_grid_counters_and_every_state_topic_is_announced():
    state = full_state()
    messages = discovery_messages("ksem", state, "Home")
    by_state = {payload["state_topic"]: payload for payload in messages.values() if "state_topic" in payload}
    for key in ("grid/import_wh", "grid/export_wh", "grid/l1/import_wh", "grid/l3/export_wh"):
        sensor = by_state[f"ksem/7/{key}"]
        assert (sensor["device_class"], sensor["state_class"], sensor["unit_of_measurement"]) == (
            "energy", "total_increasing", "Wh"
        )  # fmt: skip
    assert by_state["ksem/7/grid/power_w"]["unit_of_measurement"] == "W"
    assert by_state["ksem/7/battery/soc_pct"]["device_class"] == "battery"
    topics = state_topics("ksem", state)
    missing = {t for t in by_state if t not in topics and not t.endswith("/min_current_a")}
    assert not missing, missing


def test_the_wallbox_has_a_mode_select_a_current_number_and_pause_resume_buttons():
    messages = discovery_messages("ksem", full_state(), "Home")
    commands = {p["command_topic"]: (t.split("/")[1], p) for t, p in messages.items() if "command_topic" in p}
    assert set(commands) == {
        "ksem/7/wallbox/carport/mode/set",
        "ksem/7/wallbox/carport/min_current_a/set",
        "ksem/7/wallbox/carport/pause/set",
        "ksem/7/wallbox/carport/resume/set",
    }
    component, select = commands["ksem/7/wallbox/carport/mode/set"]
    assert component == "select" and select["options"] == list(CHARGING_MODES)
    assert commands["ksem/7/wallbox/carport/min_current_a/set"][0] == "number"
    assert commands["ksem/7/wallbox/carport/pause/set"][0] == "button"
    for payload in messages.values():
        assert payload["availability_topic"] == availability_topic("ksem") == "ksem/bridge/availability"


def test_state_payloads_are_plain_text_and_unknown_values_are_none():
    state = full_state(grid_w=-523.6)
    topics = state_topics("home/ksem", state)
    assert topics["home/ksem/7/grid/power_w"] == "-524"
    assert topics["home/ksem/7/grid/l1/voltage_v"] == "230.0"
    assert topics["home/ksem/7/grid/frequency_hz"] == "50.01"
    assert topics["home/ksem/7/battery/charge_limit_w"] == "3000"
    assert topics["home/ksem/7/battery/charge_limit_reason"] == "fuse L1 25 A"
    assert topics["home/ksem/7/wallbox/carport/mode"] == "power"
    assert topics["home/ksem/7/inverter/plenticore_plus/limit_pct"] == "70.0"
    assert topics["home/ksem/7/controller/feed_in_limitation/state"] == "limiting"
    offline = replace(state, meter=None, flow=replace(state.flow, grid_power_w=None))
    assert state_topics("ksem", offline)["ksem/7/grid/power_w"] == UNKNOWN
    assert state_topics("ksem", offline)["ksem/7/grid/l2/current_a"] == UNKNOWN


def test_only_the_values_of_a_cycle_that_changed_differ():
    first, second = state_topics("ksem", full_state(1)), state_topics("ksem", full_state(2))
    changed = {t for t in first if first[t] != second[t]}
    assert changed == {"ksem/7/timestamp", "ksem/7/grid/import_wh"}


@given(st.text(max_size=40))
def test_a_slug_is_always_one_safe_topic_level(name: str):
    level = slug(name)
    assert level and PREFIX_PATTERN.match(level) and "/" not in level and "+" not in level


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", BrokerConfig()),
        ("mqtt://127.0.0.1:1883", BrokerConfig(enabled=True, source="environment")),
        ("mqtt://broker.lan", BrokerConfig(enabled=True, host="broker.lan", source="environment")),
        ("mqtts://broker.lan", BrokerConfig(enabled=True, host="broker.lan", port=8883, tls=True, source="environment")),
        (
            "mqtt://ha:s%40cret@10.0.0.2:1884/home/ksem",
            BrokerConfig(
                enabled=True, host="10.0.0.2", port=1884, username="ha", password="s@cret", prefix="home/ksem",
                source="environment",
            ),
        ),
    ],
)  # fmt: skip
def test_ksem_mqtt_url(url: str, expected: BrokerConfig):
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://x", "scheme"), ("mqtt://", "no broker host"), ("mqtt://x:99999", "port"), ("mqtt://x:abc", "port")],
)
def test_a_bad_ksem_mqtt_url_names_the_problem(url: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        parse_url(url)
