"""What the virtual plant looks like: a scenario, loaded from JSON and validated at the edge.

Every key is optional; a missing key takes the default below. An unknown key or a bad value
raises :class:`ScenarioError` naming the key (``battery.capacity_wh``), so a typo in a file
never silently runs a different plant.

Example file::

    {
      "pv_peak_w": 8000, "house_base_w": 300, "cloudiness": 0.3,
      "latitude_deg": 51.0, "longitude_deg": 10.0, "timezone": "Europe/Berlin",
      "start": "2025-06-21T06:00:00+00:00",
      "battery": {"capacity_wh": 10000, "max_power_w": 5000, "min_soc_pct": 5,
                  "max_soc_pct": 100, "initial_soc_pct": 50},
      "wallbox": {"max_power_w": 11000, "phases": 3,
                  "sessions": [{"start": "10:00", "end": "14:00", "car_capacity_wh": 60000}]}
    }

``"battery": null`` or ``"wallbox": null`` removes the device.

Inverters (at most five, names unique) make the plant's PV and batteries explicit, each behind
its own simulated inverter with its own Modbus server::

    "inverters": [
      {"name": "roof south", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 9000,
       "battery": {"capacity_wh": 7680, "max_power_w": 7680}},
      {"name": "garage", "type": "piko_ci", "max_ac_w": 30000, "pv_peak_w": 25000}
    ]

Types: plenticore, plenticore_bi, piko_iq, piko_epc, piko_ci, piko_mp_plus. ``battery`` is
``false`` (default), ``true`` (the default battery above) or a battery object; only PLENTICORE,
PLENTICORE BI and PIKO MP plus take one, and a PLENTICORE BI needs one and has no PV.
``pv_peak_w`` defaults to ``max_ac_w`` (0 for a PLENTICORE BI); ``watchdog_s`` (default 30) is
how long a written setpoint lasts without a refresh, after which the inverter runs at its own
``fallback_limit_pct`` (default 100: no limit); ``modbus_battery_control`` (default true)
is a PLENTICORE's register 1080 = 2, without which it ignores battery setpoints. ``line``
(e.g. "B") puts the inverter on that simulated RS485 line, beside the boxes naming it, where it
answers Modbus RTU at ``address`` (default 1); without ``line`` it has a Modbus TCP server.
**With inverters listed, the scenario-level ``pv_peak_w`` and ``battery`` are not simulated**:
the inverters' PV arrays and batteries are the plant's, under the same sun and clouds.

Wallboxes (simulated ENECTORs with their cars, :mod:`simulator.enector`)::

    "wallboxes": [
      {"name": "carport", "type": "enector_11", "rotation": "L1L2L3",
       "cars": [{"plug": "10:30", "unplug": "15:00", "phases": 3, "max_current_a": 16,
                 "min_current_a": 6, "capacity_wh": 60000, "soc_pct": 30}]}
    ]

Box keys: name, type (enector_11, enector_3_7, enector_7_4), rotation, address (50), line
(boxes naming the same line, e.g. "A", share one simulated multi-drop RS485 line), vendor_block
(true; false: a box as sold, without this product's address/firmware registers), dip_max_current_a, fallback_current_a (6), phase_switch_s (60), cars. Car keys: name, plug,
unplug (local times every day, or ISO 8601 instants), phases, max_current_a, min_current_a,
max_power_w, capacity_wh, soc_pct, target_soc_pct, taper_from_soc_pct. With ``wallboxes`` the
plain ``wallbox`` load is left out; giving both is refused.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy.config import (
    ENECTOR_11,
    INVERTER_TYPES,
    PIKO_MP_PLUS,
    PLENTICORE,
    PLENTICORE_BI,
    ROTATIONS,
    WALLBOX_LIMITS,
    WALLBOX_TYPES,
)


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the offending key."""


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    capacity_wh: float = 10_000.0
    max_power_w: float = 5_000.0
    min_soc_pct: float = 5.0
    max_soc_pct: float = 100.0
    initial_soc_pct: float = 50.0


@dataclass(frozen=True, slots=True)
class ChargingSession:
    """A car plugged in every day between two local times."""

    start: dt.time = dt.time(10, 0)
    end: dt.time = dt.time(14, 0)
    car_capacity_wh: float = 60_000.0
    # None: the car arrives with a seeded state of charge between 20 and 60 %.
    arrival_soc_pct: float | None = None
    target_soc_pct: float = 100.0


@dataclass(frozen=True, slots=True)
class WallboxConfig:
    max_power_w: float = 11_000.0
    phases: int = 3
    sessions: tuple[ChargingSession, ...] = (ChargingSession(),)


@dataclass(frozen=True, slots=True)
class InverterScenario:
    """One simulated inverter: its PV array, its AC limit and optionally a battery."""

    name: str
    type: str
    max_ac_w: float = 10_000.0
    pv_peak_w: float = 10_000.0
    battery: BatteryConfig | None = None
    watchdog_s: float = 30.0
    # What the inverter applies by itself once its watchdog fires: the limit configured in the
    # inverter for a lost energy manager (100 = none).
    fallback_limit_pct: float = 100.0
    modbus_battery_control: bool = True
    # The RS485 line the inverter hangs on ("A", "B", ...), shared with the boxes and inverters
    # naming the same line, where it answers at ``address``. None: Modbus TCP, a server of its own.
    line: str | None = None
    address: int = 1


MAX_INVERTERS = 5
BATTERY_INVERTER_TYPES = frozenset({PLENTICORE, PLENTICORE_BI, PIKO_MP_PLUS})
RESERVED_NAMES = frozenset({"meter", "sdm630"})  # the grid meter's device servers

ScheduleTime = dt.time | dt.datetime  # a local time of every day, or one instant (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class CarScenario:
    """A vehicle at an ENECTOR: plugged in from ``plug`` until ``unplug`` (``None``: stays).

    Local times (``dt.time``) repeat every day; instants (``dt.datetime``) happen once. It draws
    at most ``max_current_a`` per phase on ``phases`` phases (and ``max_power_w`` in all), and
    needs at least ``min_current_a`` offered, else the box reports event 2011 and it does not
    charge. It stops at ``target_soc_pct``; above ``taper_from_soc_pct`` its current falls
    linearly toward the target.
    """

    plug: ScheduleTime = dt.time(0, 0)
    unplug: ScheduleTime | None = None
    name: str = "car"
    phases: int = 3
    max_current_a: float = 16.0
    min_current_a: float = 6.0
    max_power_w: float | None = None
    capacity_wh: float = 60_000.0
    soc_pct: float = 30.0  # on arrival
    target_soc_pct: float = 100.0
    taper_from_soc_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxScenario:
    """A simulated ENECTOR (simulator.enector) on an RS485 line of its own.

    ``address`` is where it answers at start (50 from the factory; 100 for a box the manager
    already set up). ``dip_max_current_a`` is the installation limit set on its DIP switches
    (default: the type's maximum). ``fallback_current_a``: what it charges with once no heartbeat
    came for 10 s (0 keeps the last values, 1 pauses, 6-32 A). ``phase_switch_s``: how long a
    1/3-phase switch takes.
    """

    name: str
    type: str = ENECTOR_11
    rotation: str = "L1L2L3"
    address: int = 50
    # The RS485 line the box hangs on ("A", "B", ...): boxes naming one line share one simulated
    # multi-drop line (one port). None: a line of its own.
    line: str | None = None
    # False: a box as sold, without this product's vendor block (no address register, no
    # firmware update over Modbus): reads and writes there answer exception 2.
    vendor_block: bool = True
    dip_max_current_a: float | None = None
    fallback_current_a: int = 6
    phase_switch_s: float = 60.0
    cars: tuple[CarScenario, ...] = ()

    @property
    def max_current_a(self) -> float:
        type_max = WALLBOX_LIMITS[self.type][1]
        return type_max if self.dip_max_current_a is None else min(self.dip_max_current_a, type_max)

    @property
    def max_phases(self) -> int:
        return WALLBOX_LIMITS[self.type][0]


@dataclass(frozen=True, slots=True)
class Scenario:
    pv_peak_w: float = 8_000.0
    house_base_w: float = 300.0
    # 0 = clear sky all day, 1 = a passing cloud most of the time.
    cloudiness: float = 0.3
    latitude_deg: float = 51.0
    longitude_deg: float = 10.0
    timezone: str = "Europe/Berlin"
    start: dt.datetime | None = None
    battery: BatteryConfig | None = field(default_factory=BatteryConfig)
    wallbox: WallboxConfig | None = field(default_factory=WallboxConfig)
    inverters: tuple[InverterScenario, ...] = ()
    wallboxes: tuple[WallboxScenario, ...] = ()

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


# --- validation ------------------------------------------------------------------------------
def _number(
    low: float | None = None, high: float | None = None, *, above: float | None = None
) -> Callable[[str, Any], float]:
    def parse(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{key}: must be a number, got {value!r}")
        number = float(value)
        if above is not None and not number > above:
            raise ScenarioError(f"{key}: must be greater than {above:g}, got {number:g}")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ScenarioError(f"{key}: must be between {low:g} and {high:g}, got {number:g}")
        return number

    return parse


def _time_of_day(key: str, value: Any) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{key}: must be a local time like '10:00', got {value!r}") from None


def _timezone(key: str, value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ScenarioError(f"{key}: unknown time zone {value!r}") from None
    return str(value)


def parse_start(key: str, value: Any) -> dt.datetime | None:
    """An ISO 8601 instant with a UTC offset, as UTC; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ScenarioError(
            f"{key}: must be an ISO 8601 time like '2025-06-21T06:00:00+00:00', got {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{key}: needs a UTC offset (e.g. '+00:00'), got {value!r}")
    return moment.astimezone(dt.UTC)


def _phases(key: str, value: Any) -> int:
    if value not in (1, 3) or isinstance(value, bool):
        raise ScenarioError(f"{key}: must be 1 or 3, got {value!r}")
    return int(value)


def _object(key: str, value: Any, parsers: Mapping[str, Callable[[str, Any], Any]]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{key or 'scenario'}: must be a JSON object, got {value!r}")
    prefix = f"{key}." if key else ""
    for name in value:
        if name not in parsers:
            raise ScenarioError(f"{prefix}{name}: unknown key (known: {', '.join(parsers)})")
    return {name: parsers[name](f"{prefix}{name}", item) for name, item in value.items()}


def _optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda key, value: None if value is None else parse(key, value)


_BATTERY = {
    "capacity_wh": _number(above=0),
    "max_power_w": _number(above=0),
    "min_soc_pct": _number(0, 100),
    "max_soc_pct": _number(0, 100),
    "initial_soc_pct": _number(0, 100),
}
_SESSION = {
    "start": _time_of_day,
    "end": _time_of_day,
    "car_capacity_wh": _number(above=0),
    "arrival_soc_pct": _optional(_number(0, 100)),
    "target_soc_pct": _number(0, 100),
}


def _battery(key: str, value: Any) -> BatteryConfig:
    battery = BatteryConfig(**_object(key, value, _BATTERY))
    if battery.min_soc_pct >= battery.max_soc_pct:
        raise ScenarioError(f"{key}.min_soc_pct: must be below max_soc_pct ({battery.max_soc_pct:g})")
    if not battery.min_soc_pct <= battery.initial_soc_pct <= battery.max_soc_pct:
        raise ScenarioError(f"{key}.initial_soc_pct: must be between min_soc_pct and max_soc_pct")
    return battery


def _sessions(key: str, value: Any) -> tuple[ChargingSession, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list, got {value!r}")
    sessions = [ChargingSession(**_object(f"{key}[{n}]", item, _SESSION)) for n, item in enumerate(value)]
    for n, session in enumerate(sessions):
        if session.start >= session.end:
            raise ScenarioError(f"{key}[{n}].end: must be after start (sessions do not span midnight)")
    ordered = sorted(sessions, key=lambda s: s.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            raise ScenarioError(f"{key}: sessions {earlier.start}-{earlier.end} and {later.start}-{later.end} overlap")
    return tuple(ordered)


_WALLBOX = {"max_power_w": _number(above=0), "phases": _phases, "sessions": _sessions}


def _wallbox(key: str, value: Any) -> WallboxConfig:
    return WallboxConfig(**_object(key, value, _WALLBOX))


def _name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{key}: must be a non-empty text, got {value!r}")
    if value in RESERVED_NAMES:
        raise ScenarioError(f"{key}: {value!r} is reserved for the grid meter")
    return value


def _inverter_type(key: str, value: Any) -> str:
    if value not in INVERTER_TYPES:
        raise ScenarioError(f"{key}: unknown type {value!r} (known: {', '.join(INVERTER_TYPES)})")
    return str(value)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{key}: must be true or false, got {value!r}")
    return value


def _inverter_battery(key: str, value: Any) -> BatteryConfig | None:
    if value is None or value is False:
        return None
    if value is True:
        return BatteryConfig()
    return _battery(key, value)


def _address(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 247:
        raise ScenarioError(f"{key}: must be a Modbus address 1..247, got {value!r}")
    return value


def _line(key: str, value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 20 or not value.replace("_", "").isalnum():
        raise ScenarioError(f'{key}: must be a line name such as "A" or "B" (letters, digits, _), got {value!r}')
    return value


_INVERTER = {
    "name": _name,
    "type": _inverter_type,
    "max_ac_w": _number(above=0),
    "pv_peak_w": _number(0, 200_000),
    "battery": _inverter_battery,
    "watchdog_s": _number(above=0),
    "fallback_limit_pct": _number(0, 100),
    "modbus_battery_control": _flag,
    "line": _line,
    "address": _address,
}


def _inverter(key: str, value: Any) -> InverterScenario:
    fields = _object(key, value, _INVERTER)
    for required in ("name", "type"):
        if required not in fields:
            raise ScenarioError(f"{key}.{required}: missing")
    kind = fields["type"]
    max_ac_w = fields.setdefault("max_ac_w", 10_000.0)
    fields.setdefault("pv_peak_w", 0.0 if kind == PLENTICORE_BI else max_ac_w)
    if fields.get("battery") is not None and kind not in BATTERY_INVERTER_TYPES:
        raise ScenarioError(f"{key}.battery: a {kind} inverter has no battery input")
    if "address" in fields and "line" not in fields:
        raise ScenarioError(f"{key}.address: only with a line (an inverter without one answers over Modbus TCP)")
    if kind == PLENTICORE_BI:
        if fields.get("battery") is None:
            raise ScenarioError(f"{key}.battery: a plenticore_bi is a battery inverter and needs a battery")
        if fields["pv_peak_w"] > 0:
            raise ScenarioError(f"{key}.pv_peak_w: a plenticore_bi has no PV inputs")
    return InverterScenario(**fields)


def _inverters(key: str, value: Any) -> tuple[InverterScenario, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list, got {value!r}")
    if len(value) > MAX_INVERTERS:
        raise ScenarioError(f"{key}: at most {MAX_INVERTERS} inverters, got {len(value)}")
    inverters = tuple(_inverter(f"{key}[{n}]", item) for n, item in enumerate(value))
    seen: set[str] = set()
    for n, inverter in enumerate(inverters):
        if inverter.name in seen:
            raise ScenarioError(f"{key}[{n}].name: {inverter.name!r} is used twice")
        seen.add(inverter.name)
    return inverters


def _schedule_time(key: str, value: Any) -> ScheduleTime:
    """'10:30' (every day, local) or a full ISO 8601 instant with offset (once)."""
    if isinstance(value, str) and "T" in value:
        moment = parse_start(key, value)
        assert moment is not None
        return moment
    return _time_of_day(key, value)


_CAR = {
    "name": _name,
    "plug": _schedule_time,
    "unplug": _optional(_schedule_time),
    "phases": _phases,
    "max_current_a": _number(6, 32),
    "min_current_a": _number(6, 32),
    "max_power_w": _optional(_number(above=0)),
    "capacity_wh": _number(above=0),
    "soc_pct": _number(0, 100),
    "target_soc_pct": _number(0, 100),
    "taper_from_soc_pct": _optional(_number(0, 100)),
}


def _car(key: str, value: Any) -> CarScenario:
    fields = _object(key, value, _CAR)
    if "plug" not in fields:
        raise ScenarioError(f"{key}.plug: missing")
    car = CarScenario(**fields)
    if car.min_current_a > car.max_current_a:
        raise ScenarioError(f"{key}.min_current_a: must not exceed max_current_a ({car.max_current_a:g})")
    if car.unplug is not None:
        if isinstance(car.plug, dt.datetime) != isinstance(car.unplug, dt.datetime):
            raise ScenarioError(f"{key}.unplug: plug and unplug must both be local times or both full times")
        if car.unplug <= car.plug:  # type: ignore[operator]
            raise ScenarioError(f"{key}.unplug: must be after plug (a daily visit does not span midnight)")
    return car


def _cars(key: str, value: Any) -> tuple[CarScenario, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list, got {value!r}")
    cars = tuple(_car(f"{key}[{n}]", item) for n, item in enumerate(value))
    for kind in (dt.time, dt.datetime):
        visits = sorted((c for c in cars if isinstance(c.plug, kind)), key=lambda c: c.plug)
        for earlier, later in itertools.pairwise(visits):
            if earlier.unplug is None or later.plug < earlier.unplug:  # type: ignore[operator]
                raise ScenarioError(f"{key}: the visits of {earlier.name!r} and {later.name!r} overlap")
    return cars


def _wallbox_type(key: str, value: Any) -> str:
    if value not in WALLBOX_TYPES:
        raise ScenarioError(f"{key}: unknown type {value!r} (known: {', '.join(WALLBOX_TYPES)})")
    return str(value)


def _rotation(key: str, value: Any) -> str:
    if value not in ROTATIONS:
        raise ScenarioError(f"{key}: unknown rotation {value!r} (known: {', '.join(ROTATIONS)})")
    return str(value)


def _fallback_current(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value in (0, 1) or 6 <= value <= 32):
        raise ScenarioError(f"{key}: must be 0 (keep), 1 (pause) or 6..32 A, got {value!r}")
    return value


_WALLBOX_SCENARIO = {
    "name": _name,
    "type": _wallbox_type,
    "rotation": _rotation,
    "address": _address,
    "line": _line,
    "vendor_block": _flag,
    "dip_max_current_a": _optional(_number(6, 32)),
    "fallback_current_a": _fallback_current,
    "phase_switch_s": _number(0, 600),
    "cars": _cars,
}


def _wallbox_scenario(key: str, value: Any) -> WallboxScenario:
    fields = _object(key, value, _WALLBOX_SCENARIO)
    if "name" not in fields:
        raise ScenarioError(f"{key}.name: missing")
    return WallboxScenario(**fields)


def _wallboxes(key: str, value: Any) -> tuple[WallboxScenario, ...]:
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list, got {value!r}")
    boxes = tuple(_wallbox_scenario(f"{key}[{n}]", item) for n, item in enumerate(value))
    seen: set[str] = set()
    for n, box in enumerate(boxes):
        if box.name in seen:
            raise ScenarioError(f"{key}[{n}].name: {box.name!r} is used twice")
        seen.add(box.name)
    return boxes


_SCENARIO: dict[str, Callable[[str, Any], Any]] = {
    "pv_peak_w": _number(0, 100_000),
    "house_base_w": _number(0, 50_000),
    "cloudiness": _number(0, 1),
    "latitude_deg": _number(-66, 66),
    "longitude_deg": _number(-180, 180),
    "timezone": _timezone,
    "start": parse_start,
    "battery": _optional(_battery),
    "wallbox": _optional(_wallbox),
    "inverters": _inverters,
    "wallboxes": _wallboxes,
}


def scenario_from_dict(data: Any) -> Scenario:
    fields = _object("", data, _SCENARIO)
    if fields.get("wallboxes"):
        if fields.get("wallbox") is not None:
            raise ScenarioError("wallbox: give either the single 'wallbox' (a plain load) or 'wallboxes', not both")
        # The plain default car would charge beside the simulated boxes.
        fields["wallbox"] = None
        inverter_names = {inverter.name for inverter in fields.get("inverters", ())}
        for n, box in enumerate(fields["wallboxes"]):
            if box.name in inverter_names:
                raise ScenarioError(f"wallboxes[{n}].name: {box.name!r} is also an inverter's name")
    return Scenario(**fields)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem is a :class:`ScenarioError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path} is not valid JSON: {exc}") from None
    return scenario_from_dict(data)
