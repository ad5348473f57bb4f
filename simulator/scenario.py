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
}


def scenario_from_dict(data: Any) -> Scenario:
    return Scenario(**_object("", data, _SCENARIO))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem is a :class:`ScenarioError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path} is not valid JSON: {exc}") from None
    return scenario_from_dict(data)
