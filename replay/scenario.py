"""A replay scenario file, validated with pydantic so every error names its key.

The plant's physics (PV, house, battery, inverters) is the simulator's own scenario format and
is validated by it; this model adds what only a replay has: its length and cycle, the
product's settings (``product``: feed-in limit, battery, mains and the wallboxes' settings)
and the events. The wallboxes with their cars are the simulator's (``wallboxes``). Unknown keys
are refused; wallboxes are refused by name while their driver or simulator is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from energy.config import (
    BATTERY_USE_MODES,
    CHARGING_MODES,
    HOURLY_MODES,
    PHASE_USAGES,
    POWER,
    SOLAR_PLUS_STARTS,
    WEEKDAYS,
    BatteryUse,
)
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
    "wallboxes",
)
MAX_WALLBOXES = 8


def wallboxes_supported() -> str:
    """Empty when the wallbox driver and simulator exist; otherwise what is missing."""
    import importlib.util

    missing = [
        what
        for module, what in (("wallbox.drivers", "driver"), ("simulator.enector", "simulator"))
        if importlib.util.find_spec(module) is None
    ]
    return f"no wallbox {' and '.join(missing)} yet" if missing else ""


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
    # Grid-optimised charging (issue 19): with a feed-in limit, keep room for the noon peak and be
    # full by ``full_by`` (local time); false = charging from all surplus as before.
    grid_optimised: bool = True
    full_by: dt.time = dt.time(16, 0)

    @model_validator(mode="after")
    def _order(self) -> BatteryManagement:
        if self.min_soc_pct >= self.max_soc_pct:
            raise ValueError("min_soc_pct must be below max_soc_pct")
        return self


class Mains(_Strict):
    """The grid connection: phases, the main fuse per phase, the unbalance limit (WB-8, WB-9)."""

    phases: Literal[1, 3] = 3
    fuse_a: Annotated[float, Field(ge=6, le=1000)] = 35.0
    unbalance_limit_va: Annotated[float, Field(ge=0, le=100_000)] = 4600.0


def _mode(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown mode {value!r} (one of {', '.join(allowed)})")
    return value


class SolarPlus(_Strict):
    start_power: str = "min"
    min_solar_share_pct: Annotated[float, Field(ge=0, le=100)] = 50.0

    @field_validator("start_power")
    @classmethod
    def _start(cls, value: str) -> str:
        if value not in SOLAR_PLUS_STARTS:
            raise ValueError(f"unknown start power {value!r} (one of {', '.join(SOLAR_PLUS_STARTS)})")
        return value


class TimeMode(_Strict):
    """A weekday's 24 hourly modes in the plant's local time; a day left out is Power all day."""

    mon: list[str] | None = None
    tue: list[str] | None = None
    wed: list[str] | None = None
    thu: list[str] | None = None
    fri: list[str] | None = None
    sat: list[str] | None = None
    sun: list[str] | None = None

    @field_validator(*WEEKDAYS)
    @classmethod
    def _day(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if len(value) != 24:
            raise ValueError(f"needs 24 hourly modes, got {len(value)}")
        for hour, mode in enumerate(value):
            if mode not in HOURLY_MODES:
                raise ValueError(f"hour {hour}: unknown mode {mode!r} (one of {', '.join(HOURLY_MODES)})")
        return value

    def week(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(getattr(self, day) or (POWER,) * 24) for day in WEEKDAYS)


class BatteryUsePerMode(_Strict):
    """WB-7 per mode; a mode left out does not use the battery."""

    power: bool = False
    solar_pure: bool = False
    solar_plus: bool = False


class ChargingPlan(_Strict):
    """A charging plan (issue 19.3): ``target_wh`` by ``departure``, a local time (the first one
    after the scenario's start) or a full ISO 8601 time; ``weekdays`` (mon..sun) makes it weekly."""

    target_wh: Annotated[float, Field(gt=0, le=200_000)]
    departure: str
    weekdays: list[str] | None = None

    @field_validator("departure")
    @classmethod
    def _departure(cls, value: str) -> str:
        try:
            dt.time.fromisoformat(value)
        except ValueError:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"must be a local time like '07:00' or an ISO 8601 time, got {value!r}") from None
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        for day in value or ():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (one of {', '.join(WEEKDAYS)})")
        if value is not None and not value:
            raise ValueError("name at least one weekday")
        return value


class Tariff(_Strict):
    """The purchase price per kWh: one price, or 24, one per local hour of every day."""

    purchase_per_kwh: float | Annotated[list[float], Field(min_length=24, max_length=24)]
    currency: str = "EUR"

    def price_at_hour(self, hour: int) -> float:
        prices = self.purchase_per_kwh
        return float(prices) if isinstance(prices, float | int) else float(prices[hour])


class WallboxSettings(_Strict):
    """The product's settings of one wallbox (same order as the scenario's ``wallboxes``).

    ``battery_use``: ``true``/``false`` for every mode, or one value per mode
    (``{"power": false, "solar_pure": true, "solar_plus": true}``).
    """

    mode: str = POWER
    phase_usage: str = "standard"
    min_current_a: Annotated[float, Field(ge=6, le=16)] = 6.0
    battery_use: BatteryUsePerMode = Field(default_factory=BatteryUsePerMode)
    solar_plus: SolarPlus = Field(default_factory=SolarPlus)
    time_mode: TimeMode | None = None
    manual_pause: bool = False
    plan: ChargingPlan | None = None

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        return _mode(value, CHARGING_MODES)

    @field_validator("battery_use", mode="before")
    @classmethod
    def _every_mode(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return dict.fromkeys(BATTERY_USE_MODES, value)
        if not isinstance(value, dict):
            raise ValueError(
                f"expected true, false or one value per mode ({', '.join(BATTERY_USE_MODES)}), got {value!r}"
            )
        return value

    def battery_use_per_mode(self) -> BatteryUse:
        use = self.battery_use
        return BatteryUse(power=use.power, solar_pure=use.solar_pure, solar_plus=use.solar_plus)

    @field_validator("phase_usage")
    @classmethod
    def _phase_usage(cls, value: str) -> str:
        if value not in PHASE_USAGES:
            raise ValueError(f"unknown phase usage {value!r} (one of {', '.join(PHASE_USAGES)})")
        return value

    @model_validator(mode="after")
    def _time_mode_given(self) -> WallboxSettings:
        if self.mode == "time_mode" and self.time_mode is None:
            raise ValueError("mode time_mode needs time_mode (24 hourly modes per weekday)")
        return self


class SmartGrid(_Strict):
    """The grid operator's values the product holds before the control box writes its own."""

    failsafe_consumption_w: Annotated[float, Field(ge=0, le=1e6)] = 10_000.0
    failsafe_production_w: Annotated[float, Field(ge=0, le=1e6)] = 10_000.0
    failsafe_duration_s: Annotated[float, Field(ge=7200, le=86400)] = 7200.0
    consumption_nominal_max_w: Annotated[float, Field(ge=0, le=1e6)] = 32_000.0
    production_nominal_max_w: Annotated[float, Field(ge=0, le=1e6)] = 10_000.0


class Product(_Strict):
    position: Literal["grid", "home"] = "grid"
    smartgrid: SmartGrid | None = None
    feed_in_limit: FeedInLimit | None = None
    battery_management: BatteryManagement | None = None
    mains: Mains | None = None
    wallboxes: Annotated[list[WallboxSettings], Field(max_length=MAX_WALLBOXES)] = Field(default_factory=list)
    tariff: Tariff | None = None


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
    eebus: Literal["heartbeat_stop", "heartbeat_resume", "heartbeat_start", "disconnect", "reconnect"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = [k for k in ("house_phase_w", "cloud", "fault", "lpc_w", "lpp_w", "eebus") if k in data]
        if len(kinds) != 1:
            raise ValueError(
                "an event has exactly one of house_phase_w, cloud, fault (with device), lpc_w, lpp_w, eebus; "
                f"got {', '.join(kinds) or 'none'}"
            )
        if "cloud" in data and "for_s" not in data:
            raise ValueError("a cloud event needs for_s")
        if "fault" in data and "device" not in data:
            raise ValueError("a fault event needs device")
        # A key that an event kind does not take is refused by name, never ignored.
        takes = {"for_s": ("cloud",), "duration_s": ("fault", "lpc_w", "lpp_w"), "delay_s": ("fault",)}
        for key, kinds_taking in takes.items():
            if key in data and kinds[0] not in kinds_taking:
                raise ValueError(f"{key} is for {' and '.join(kinds_taking)} events, not {kinds[0]}")
        return data

    @property
    def kind(self) -> str:
        for name in ("cloud", "fault", "lpc_w", "lpp_w", "eebus"):
            if name in self.model_fields_set:
                return name
        return "house_phase_w"


GUARD_PERIODS_S = (0.2, 0.5)


class ReplayScenario(_Strict):
    hours: Annotated[float, Field(gt=0, le=48)] = 1.0
    cycle_s: Annotated[float, Field(ge=0.2, le=10)] = 1.0
    # The sub-second guard pass between cycles (MET-3: 0.2 or 0.5 s); none unless given.
    guard_period_s: float | None = None
    house_phase_split: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=3, max_length=3)] | None = None
    product: Product = Field(default_factory=Product)
    events: list[Event] = Field(default_factory=list)
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
    wallboxes: Any = None

    @model_validator(mode="after")
    def _guard_fits_cycle(self) -> ReplayScenario:
        period = self.guard_period_s
        if period is not None and period not in GUARD_PERIODS_S:
            raise ValueError(f"guard_period_s must be 0.2 or 0.5 (the meter's internal cycles), got {period:g}")
        if period is not None and (
            period >= self.cycle_s or abs(round(self.cycle_s / period) * period - self.cycle_s) > 1e-9
        ):
            raise ValueError(f"guard_period_s {period:g} must divide cycle_s {self.cycle_s:g} into whole passes")
        return self

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
    _check_wallboxes(replay, simulated)
    names = {device.name for device in (*_inverters(simulated), *_wallboxes(simulated))}
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


def _check_wallboxes(replay: ReplayScenario, simulated: Scenario) -> None:
    boxes = _wallboxes(simulated)
    settings = len(replay.product.wallboxes)
    if settings and settings != len(boxes):
        raise ReplayError(
            f"product.wallboxes: {settings} entries for {len(boxes)} wallboxes (one per wallbox, in order)"
        )
    if boxes and (missing := wallboxes_supported()):
        raise ReplayError(f"wallboxes[0].type: {boxes[0].type} is not supported yet ({missing})")


def _wallboxes(scenario: Scenario) -> tuple[Any, ...]:
    return tuple(getattr(scenario, "wallboxes", ()) or ())


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
