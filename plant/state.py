"""The immutable snapshot of a plant that one cycle produces.

Plain dataclasses with SI units in the names. Nothing here imports Django, sockets or the
clock: controllers, drivers, the simulator and the pages all share these types.
Sign convention at the grid connection point: purchase (+), feed-in (-).
Battery power: charging (+), discharging (-).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any


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
        return dataclasses.asdict(self)


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
    measuring_interval_ms: int = 1000


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Health of one device as the cycle saw it."""

    name: str
    online: bool
    offline_since: dt.datetime | None = None
    error: str = ""
    last_seen: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Setpoint:
    """A value a controller wants written to a device, and why it has that value."""

    device: str
    quantity: str
    value: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class PlantState:
    """Everything one cycle knows about one plant, as of ``timestamp`` (UTC)."""

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
    setpoints: tuple[Setpoint, ...] = ()
    cycle_duration_s: float = 0.0
    messages: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by Redis, the websocket and the API."""
        data: dict[str, Any] = dataclasses.asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        for status in [data["meter_status"], *data["devices"]]:
            for key in ("offline_since", "last_seen"):
                status[key] = status[key].isoformat() if status[key] else None
        return data
