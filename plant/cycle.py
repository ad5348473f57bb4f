"""One plant's 1 s cycle: read -> state -> decide -> act -> publish.

``PlantRuntime`` lives in the worker's device event loop and owns the plant's device
connections, counters and controller memory between cycles. Everything that needs the
database (loading settings, persisting counters and logs) happens outside, in
``plant.services``; everything here is I/O with devices and Redis, or pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from meter import counters
from meter.drivers.ksem_tcp import KsemTcpMeter, MeterError, MeterSample
from plant.config import PlantConfig
from plant.controllers import ControllerRegistry, registry
from plant.state import DeviceStatus, EnergyFlow, FlowSummary, MeterReading, PlantState

log = logging.getLogger(__name__)

# Below this a computed house consumption is measurement noise; further below, information is missing.
NOISE_W = 50.0


class Publisher(Protocol):
    async def publish(self, state: PlantState) -> None: ...


def compute_flow(position: str, reading: MeterReading | None, summary: FlowSummary | None) -> EnergyFlow:
    """Where the power goes, from the meter and what the source knows about the devices.

    In the grid position the meter sees the grid: house = grid + PV - battery charge - wallbox.
    In the home-consumption position (MET-6) it sees the house: grid follows from the devices.
    Unknown devices count as absent; a balance that cannot be right is reported as unknown.
    """
    summary = summary or FlowSummary()
    pv, battery, wallbox = summary.pv_power_w, summary.battery_power_w, summary.wallbox_power_w
    known = (pv or 0.0) - (battery or 0.0) - (wallbox or 0.0)
    grid: float | None
    house: float | None
    if reading is None:
        grid, house = None, None
    elif position == "home":
        house = reading.active_power_w
        grid = house - known if pv is not None else None
    else:
        grid = reading.active_power_w
        balance = grid + known
        house = None if balance < -NOISE_W else max(balance, 0.0)
    return EnergyFlow(
        grid_power_w=grid,
        pv_power_w=pv,
        battery_power_w=battery,
        battery_soc_pct=summary.battery_soc_pct,
        house_power_w=house,
        wallbox_power_w=wallbox,
    )


@dataclass
class StatusTracker:
    """Online/offline of one device, logging once per outage rather than once per cycle."""

    name: str
    status: DeviceStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = DeviceStatus(self.name, online=False, error="not read yet")

    def ok(self, now: dt.datetime) -> DeviceStatus:
        if not self.status.online and self.status.offline_since is not None:
            log.warning("%s back online after %s", self.name, now - self.status.offline_since)
        self.status = DeviceStatus(self.name, online=True, last_seen=now)
        return self.status

    def failed(self, now: dt.datetime, error: str) -> DeviceStatus:
        if self.status.online or self.status.offline_since is None:
            log.warning("%s offline: %s", self.name, error)
            self.status = DeviceStatus(
                self.name, False, offline_since=now, error=error, last_seen=self.status.last_seen
            )
        else:
            self.status = DeviceStatus(
                self.name, False, offline_since=self.status.offline_since, error=error, last_seen=self.status.last_seen
            )
        return self.status


@dataclass
class CycleResult:
    state: PlantState
    counters: counters.CounterState
    counters_rebased: tuple[str, ...]


class PlantRuntime:
    def __init__(
        self,
        config: PlantConfig,
        counter_state: counters.CounterState,
        publisher: Publisher,
        controllers: ControllerRegistry = registry,
    ) -> None:
        self.config = config
        self.counter_state = counter_state
        self.publisher = publisher
        self.controllers = controllers
        self.meter = KsemTcpMeter(config.meter) if config.meter else None
        self.meter_status = StatusTracker("meter")
        self.memory: Mapping[str, Mapping[str, Any]] = {}
        self.sequence = 0

    def reconfigure(self, config: PlantConfig) -> None:
        """Take new settings; device connections are rebuilt only when their own settings changed."""
        if config.meter != self.config.meter:
            if self.meter is not None:
                self.meter.close()
            self.meter = KsemTcpMeter(config.meter) if config.meter else None
            self.meter_status = StatusTracker("meter")
        self.config = config

    async def cycle(self, now: dt.datetime) -> CycleResult:
        started = time.perf_counter()
        self.sequence += 1

        # 1. read: every device at once; a dead device is a status, never an exception.
        sample = await self._read_meter(now)

        # 2. state: one immutable snapshot.
        rebased: tuple[str, ...] = ()
        if sample is not None:
            raw = counters.named_counters(sample.reading.energy, sample.reading.phase_energy)
            update = counters.advance(self.counter_state, raw, now)
            self.counter_state, rebased = update.state, update.rebased
            if rebased:
                log.warning("meter counters %s went backwards or jumped; totals continue", ", ".join(rebased))
        reading = sample.reading if sample else None
        state = PlantState(
            plant_id=self.config.plant_id,
            timestamp=now,
            sequence=self.sequence,
            meter=reading,
            meter_status=self.meter_status.status,
            flow=compute_flow(self.config.installation_position, reading, sample.flow if sample else None),
            totals=counters.totals_of(self.counter_state),
            phase_totals=counters.phase_totals_of(self.counter_state),
            messages=self._messages(),
        )

        # 3. decide: controllers in priority order.
        outcome = self.controllers.decide(state, self.config, self.memory, now)
        self.memory = outcome.memory

        # 4. act: drivers write the setpoints that changed. No device takes setpoints yet;
        #    the inverter, battery and wallbox drivers of later issues plug in here.

        # 5. publish: Redis (latest values) and the plant's websocket group.
        state = dataclasses.replace(state, setpoints=outcome.setpoints, cycle_duration_s=time.perf_counter() - started)
        await self.publisher.publish(state)
        return CycleResult(state, self.counter_state, rebased)

    async def _read_meter(self, now: dt.datetime) -> MeterSample | None:
        if self.meter is None:
            self.meter_status.failed(now, "no meter configured")
            return None
        try:
            sample = await self.meter.read()
        except MeterError as exc:
            self.meter_status.failed(now, str(exc))
            return None
        self.meter_status.ok(now)
        return sample

    def _messages(self) -> tuple[str, ...]:
        if self.meter is None:
            return ("No meter is configured for this plant.",)
        return ()

    async def close(self) -> None:
        """Close device connections; async because it must run in the loop that owns them."""
        if self.meter is not None:
            self.meter.close()
