"""The immutable snapshot of a plant that one cycle produces.

Plain dataclasses with SI units in the names. Nothing here imports Django, sockets or the
clock: controllers, drivers, the simulator and the pages all share these types.
Sign convention at the grid connection point: purchase (+), feed-in (-).
Battery power: charging (+), discharging (-).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from energy.gridlimit import GridLimitStatus


@dataclass(frozen=True, slots=True)
class PhaseReading:
    voltage_v: float
    current_a: float
    active_power_w: float
    reactive_power_var: float
    apparent_power_va: float
    power_factor: float


@dataclass(frozen=True, slots=True)
class EnergyCounters:
    """Counter readings of a meter. Every value only ever increases."""

    active_import_wh: float = 0.0
    active_export_wh: float = 0.0
    reactive_import_varh: float = 0.0
    reactive_export_varh: float = 0.0
    apparent_import_vah: float = 0.0
    apparent_export_vah: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "active_import_wh": self.active_import_wh,
            "active_export_wh": self.active_export_wh,
            "reactive_import_varh": self.reactive_import_varh,
            "reactive_export_varh": self.reactive_export_varh,
            "apparent_import_vah": self.apparent_import_vah,
            "apparent_export_vah": self.apparent_export_vah,
        }


ZERO_PHASE = PhaseReading(0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One sample of the grid connection point (MET-1)."""

    active_power_w: float
    reactive_power_var: float
    apparent_power_va: float
    power_factor: float
    frequency_hz: float
    phases: tuple[PhaseReading, PhaseReading, PhaseReading]
    energy: EnergyCounters
    phase_energy: tuple[EnergyCounters, EnergyCounters, EnergyCounters]


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """What a KSEM-G2-style source reports about the devices behind it (block 0xA000).

    ``None`` means the source does not know the value.
    """

    pv_power_w: float | None = None
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None
    house_power_w: float | None = None
    wallbox_power_w: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer_id: int = 0
    product_id: int = 0
    product_version: int = 0
    firmware_version: int = 0
    vendor: str = ""
    product: str = ""
    serial: str = ""
    hardware: str = ""  # as the device reports it (KOSTAL's map: register 36, shown in hex)
    measuring_interval_ms: int = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    """Health of one device as the cycle saw it."""

    name: str
    online: bool
    offline_since: dt.datetime | None = None
    error: str = ""
    last_seen: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setpoint:
    """A value the act step writes to a device, and why it has exactly that value.

    ``source`` is the controller whose request or bound decided the value; ``reason`` says why
    in words a person understands ("feed-in limit 6.00 kW", "fuse L1 35 A").
    """

    device: str
    quantity: str
    value: float
    reason: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """A bound a higher-priority controller sets on what lower ones may ask of a device.

    Bounds combine: the tightest ``max_value`` and ``min_value`` of all controllers hold, and a
    request outside them is clamped, not discarded, so the request's intent survives the cap.
    """

    device: str
    quantity: str
    max_value: float | None = None
    min_value: float | None = None
    reason: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    """A running timer of a controller (hysteresis, phase-switch delay, ramp), for people to see."""

    name: str
    seconds_left: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerStatus:
    """What one controller did this cycle: its state, why, and the timers it runs.

    ``state`` is one of off, idle, active, limiting, failed.
    """

    name: str
    state: str
    reason: str = ""
    timers: tuple[Timer, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InverterState:
    """One inverter as the cycle read it. ``None`` where the inverter did not tell (or is offline).

    ``limit_pct`` is the active-power limit in force (% of ``max_ac_w``) as last written;
    battery values belong to a hybrid inverter's own battery (PLENTICORE), charge (+).
    """

    name: str
    type: str
    status: DeviceStatus
    controllable: bool
    max_ac_w: float
    ac_power_w: float | None = None
    dc_power_w: float | None = None
    limit_pct: float | None = None
    battery_power_w: float | None = None
    battery_soc_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedCharge:
    """One 15-minute slot of grid-optimised charging's plan (``energy.batteryplan``)."""

    start: dt.datetime  # UTC
    charge_w: float
    soc_pct: float  # expected at the slot's end


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryState:
    """The plant's house battery as its inverter reports it, with the limits the product keeps.

    ``max_charge_w`` and ``max_discharge_w`` are what the battery can do; ``charge_limit_w`` and
    ``discharge_limit_w`` what the product allows right now, each with its reason.
    """

    name: str
    status: DeviceStatus
    inverter: str
    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float
    min_soc_pct: float
    max_soc_pct: float
    power_w: float | None = None
    soc_pct: float | None = None
    charge_limit_w: float | None = None
    charge_limit_reason: str = ""
    discharge_limit_w: float | None = None
    discharge_limit_reason: str = ""
    # Grid-optimised charging: why it charges as it does, and the plan to the deadline (empty when off).
    plan_reason: str = ""
    plan: tuple[PlannedCharge, ...] = ()


# Wallbox states as people (and the replay's trace) see them.
WALLBOX_NO_VEHICLE = "no_vehicle"
WALLBOX_WAITING = "waiting"
WALLBOX_CHARGING = "charging"
WALLBOX_PAUSED = "paused"
WALLBOX_ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxCommand:
    """A command for every wallbox of the plant from a Modbus client (MB-2, registers 45056/45057).

    ``mode`` is one of the product's hourly modes (lock, power, solar_pure, solar_plus) or
    ``None`` (released: the box's own mode holds); ``current_limit_a`` caps the charging current
    (``None``: no cap). Written at ``at``; it holds until ``expires_at`` unless written again:
    a client that stops refreshing hands control back to the modes.
    """

    mode: str | None = None
    current_limit_a: float | None = None
    at: dt.datetime
    expires_at: dt.datetime
    source: str = ""

    def in_force(self, now: dt.datetime) -> bool:
        """Neither released nor expired at ``now`` (a time written ahead of ``now`` by a clock
        more than the timeout ahead counts as expired too)."""
        if self.mode is None and self.current_limit_a is None:
            return False
        return now < self.expires_at and self.at < now + (self.expires_at - self.at)


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxState:
    """One wallbox as the cycle read it, and what the controller made of it.

    ``phase_currents_a`` are per *grid* phase (the box's rotation applied). ``mode`` is the mode
    in force now (Time Mode resolved to the hour's mode), ``configured_mode`` the one chosen.
    ``state`` is one of the WALLBOX_* states; ``reason`` says why it charges as it does or why
    it does not (fuse, unbalance, surplus, hysteresis, grid limit, lock, schedule, vehicle).
    ``vehicle_phases`` is how many phases the plugged-in car charges on when its box offers all
    of its phases, once the box detected it or the car was seen drawing; ``None`` while unknown.
    """

    name: str
    type: str
    status: DeviceStatus
    state: str
    mode: str
    configured_mode: str
    phases: int | None = None
    current_a: float | None = None
    phase_currents_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    power_w: float | None = None
    vehicle_connected: bool = False
    vehicle_phases: int | None = None
    session_energy_wh: float | None = None
    error_code: int = 0
    reason: str = ""
    timers: tuple[Timer, ...] = ()
    # The box's own status code (EVSE state 0-7, energy.devices.EVSE_*) and how long the
    # session has run by its own count; ``None`` while the box does not answer.
    status_code: int | None = None
    session_duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyFlow:
    """Where power goes right now, in W, all non-negative except grid and battery.

    grid_power_w: purchase (+) / feed-in (-); battery_power_w: charge (+) / discharge (-).
    A device the plant does not have (or does not know) is ``None``.
    """

    grid_power_w: float | None
    pv_power_w: float | None
    battery_power_w: float | None
    battery_soc_pct: float | None
    house_power_w: float | None
    wallbox_power_w: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlantState:
    """Everything one cycle knows about one plant, as of ``timestamp`` (UTC).

    Serialised for Redis, the websocket and the API by :mod:`energy.snapshot`, and read back
    by the pages through the same types.
    """

    plant_id: int
    timestamp: dt.datetime
    sequence: int
    meter: MeterReading | None
    meter_status: DeviceStatus
    flow: EnergyFlow
    totals: EnergyCounters
    phase_totals: tuple[EnergyCounters, EnergyCounters, EnergyCounters] = (
        EnergyCounters(),
        EnergyCounters(),
        EnergyCounters(),
    )
    devices: tuple[DeviceStatus, ...] = ()
    inverters: tuple[InverterState, ...] = ()
    battery: BatteryState | None = None
    wallboxes: tuple[WallboxState, ...] = ()
    feed_in_limit_w: float | None = None
    setpoints: tuple[Setpoint, ...] = ()
    controllers: tuple[ControllerStatus, ...] = ()
    # The last wallbox command of a Modbus client (MB-2), in force or not (see ``in_force``).
    wallbox_command: WallboxCommand | None = None
    # The grid operator's limits (LPC/LPP) this cycle; ``None`` while the plant is not controlled.
    grid_limits: GridLimitStatus | None = None
    cycle_duration_s: float = 0.0
    messages: tuple[str, ...] = field(default=())
