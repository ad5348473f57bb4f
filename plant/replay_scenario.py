"""A replay scenario file, validated with pydantic so every error names its key.

The plant's physics (PV, house, battery, inverters) is the simulator's own scenario format and
is validated by it; this model adds what only a replay has: its length and cycle, the
product's settings (``product``) and the events. Unknown keys are refused, and keys of
capabilities the product does not have yet (wallboxes, mains) are refused by name.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.scenario import Scenario, ScenarioError, scenario_from_dict
from simulator.server import FaultKind

# Keys the simulator's scenario takes; passed to it as they are.
SIMULATOR_KEYS = (
    "pv_peak_w",
    "house_base_w",
    "cloudiness",
    "latitude_deg",
    "longitude_deg",
    "timezone",
    "start",
    "battery",
    "inverters",
)
NOT_YET = {
    "wallboxes": "wallboxes are not supported yet (no wallbox driver and simulator)",
    "mains": "the mains connection (fuse guard) comes with the wallboxes and is not supported yet",
}


class ReplayError(ValueError):
    """A scenario the replay cannot run; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedInLimit(_Strict):
    enabled: bool = True
    limit_w: Annotated[float, Field(ge=0)] | None = None
    limit_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    release_ramp_pct_per_s: Annotated[float, Field(gt=0, le=100)] = 10.0

    @model_validator(mode="after")
    def _one_limit(self) -> FeedInLimit:
        if self.enabled and (self.limit_w is None) == (self.limit_pct is None):
            raise ValueError("give exactly one of limit_w and limit_pct")
        return self


class BatteryManagement(_Strict):
    enabled: bool = True
    min_soc_pct: Annotated[float, Field(ge=0, le=100)] = 5.0
    max_soc_pct: Annotated[float, Field(ge=0, le=100)] = 100.0

    @model_validator(mode="after")
    def _order(self) -> BatteryManagement:
        if self.min_soc_pct >= self.max_soc_pct:
            raise ValueError("min_soc_pct must be below max_soc_pct")
        return self


class Product(_Strict):
    position: Literal["grid", "home"] = "grid"
    feed_in_limit: FeedInLimit | None = None
    battery_management: BatteryManagement | None = None
    mains: Any = None
    wallboxes: Any = None

    @field_validator("mains", "wallboxes")
    @classmethod
    def _not_yet(cls, value: Any, info: Any) -> Any:
        if value not in (None, []):
            raise ValueError(NOT_YET[info.field_name])
        return value


class Event(_Strict):
    at: str
    house_phase_w: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=3, max_length=3)] | None = None
    cloud: Annotated[float, Field(ge=0, le=1)] | None = None
    for_s: Annotated[float, Field(gt=0)] | None = None
    device: str | None = None
    fault: FaultKind | None = None
    delay_s: Annotated[float, Field(ge=0)] = 0.0
    lpc_w: Annotated[float, Field(ge=0)] | None = None
    lpp_w: Annotated[float, Field(ge=0)] | None = None
    duration_s: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = [k for k in ("house_phase_w", "cloud", "fault", "lpc_w", "lpp_w") if k in data]
        if len(kinds) != 1:
            raise ValueError(
                "an event has exactly one of house_phase_w, cloud, fault (with device), lpc_w, lpp_w; "
                f"got {', '.join(kinds) or 'none'}"
            )
        if "cloud" in data and "for_s" not in data:
            raise ValueError("a cloud event needs for_s")
        if "fault" in data and "device" not in data:
            raise ValueError("a fault event needs device")
        return data

    @property
    def kind(self) -> str:
        for name in ("cloud", "fault", "lpc_w", "lpp_w"):
            if name in self.model_fields_set:
                return name
        return "house_phase_w"


class ReplayScenario(_Strict):
    hours: Annotated[float, Field(gt=0, le=48)] = 1.0
    cycle_s: Annotated[float, Field(ge=0.2, le=10)] = 1.0
    house_phase_split: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=3, max_length=3)] | None = None
    product: Product = Field(default_factory=Product)
    events: list[Event] = Field(default_factory=list)
    wallboxes: Any = None
    # The simulator's own keys (validated by the simulator).
    pv_peak_w: Any = None
    house_base_w: Any = None
    cloudiness: Any = None
    latitude_deg: Any = None
    longitude_deg: Any = None
    timezone: Any = None
    start: Any = None
    battery: Any = None
    inverters: Any = None

    @field_validator("wallboxes")
    @classmethod
    def _no_wallboxes(cls, value: Any) -> Any:
        if value not in (None, []):
            raise ValueError(NOT_YET["wallboxes"])
        return value

    @field_validator("house_phase_split")
    @classmethod
    def _split_sums_to_one(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(f"the three shares must add up to 1, got {sum(value):g}")
        return value


def _key(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_scenario(data: Any) -> tuple[ReplayScenario, Scenario]:
    """Validate a whole scenario: the replay's keys here, the plant's keys by the simulator."""
    try:
        replay = ReplayScenario.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _key(tuple(part for part in error["loc"] if part not in ("function-after", "function-before")))
        raise ReplayError(f"{key or 'scenario'}: {_message(error)}") from None
    simulator_part = {key: data[key] for key in SIMULATOR_KEYS if key in data}
    try:
        simulated = scenario_from_dict(simulator_part)
    except ScenarioError as exc:
        raise ReplayError(str(exc)) from None
    if simulated.start is None:
        raise ReplayError("start: a replay needs a start time, e.g. '2025-06-21T10:00:00+00:00'")
    names = {inverter.name for inverter in _inverters(simulated)}
    for n, event in enumerate(replay.events):
        try:
            event_time(event.at, simulated)
        except ValueError as exc:
            raise ReplayError(f"events[{n}].at: {exc}") from None
        if event.device is not None and event.device != "meter" and event.device not in names:
            known = ", ".join(["meter", *sorted(names)])
            raise ReplayError(f"events[{n}].device: no device {event.device!r} (known: {known})")
    managed = replay.product.battery_management
    if (
        managed is not None
        and managed.enabled
        and not any(inv.type == "piko_mp_plus" and inv.battery for inv in _inverters(simulated))
    ):
        raise ReplayError("product.battery_management: needs a piko_mp_plus inverter with a battery")
    return replay, simulated


def _inverters(scenario: Scenario) -> tuple[Any, ...]:
    return tuple(getattr(scenario, "inverters", ()) or ())


def event_time(at: str, scenario: Scenario) -> dt.datetime:
    """An event's time: a local time of the scenario's first day, or a full ISO 8601 time."""
    start = scenario.start
    assert start is not None
    zone = zoneinfo.ZoneInfo(scenario.timezone)
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        try:
            local = dt.time.fromisoformat(at)
        except ValueError:
            raise ValueError(f"must be a local time like '11:00:00' or an ISO 8601 time, got {at!r}") from None
        day = start.astimezone(zone).date()
        return dt.datetime.combine(day, local, tzinfo=zone).astimezone(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def load_replay_scenario(path: str | Path) -> tuple[ReplayScenario, Scenario]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{path} is not valid JSON: {exc}") from None
    return parse_scenario(data)
