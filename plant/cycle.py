"""One plant's 1 s cycle: read -> state -> decide -> act -> publish.

``PlantRuntime`` lives in the worker's device event loop (or in the replay) and owns the
plant's device connections, counters and controller memory between cycles. Everything that
needs the database (loading settings, persisting counters and logs) happens outside, in
``plant.worker``; everything here is I/O with devices and the publisher, or pure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from energy import counters, gridlimit
from energy.config import (
    BATTERY_POWER_W,
    GridOperatorLimits,
    InverterConfig,
    KsemTcpConfig,
    MeterConfig,
    PlantConfig,
    WallboxConfig,
)
from energy.control import Bound, Controller, ControlLoop
from energy.devices import Device, DeviceError, InverterReading, WallboxReading, guarded
from energy.flow import compute_flow
from energy.gridlimit import GridLimitStatus
from energy.state import (
    BatteryState,
    FlowSummary,
    InverterState,
    Limit,
    PlannedCharge,
    PlantState,
    Setpoint,
    WallboxCommand,
    WallboxState,
)
from energy.status import StatusTracker
from inverters.battery_control import BatteryManagement, PlanMemory
from meter.drivers import meter_driver
from meter.drivers.ksem_tcp import MeterSample
from plant import guard
from plant.boxstate import BoxRuntime, controlled, wallbox_state
from wallbox.common import command_in_force, mode_in_force

log = logging.getLogger(__name__)

T = TypeVar("T")
# How the battery types (INV-5) are shown; a hybrid inverter's own battery is named after it.
BATTERY_LABELS = {"byd_hvs": "BYD HVS", "byd_hvm": "BYD HVM"}
# A read gets at most this many of its device's timeouts.
READ_BACKSTOP_TIMEOUTS = 4
# The meter's timeout when its settings name none (a meter handed in by a test or the replay).
DEFAULT_METER_TIMEOUT_S = 0.5
# A write gets this long; a device that does not answer within it is reported, the cycle goes on.
WRITE_TIMEOUT_S = 2.0


class Publisher(Protocol):
    async def publish(self, state: PlantState) -> None: ...


InverterFactory = Callable[[Any], Device[InverterReading]]
WallboxFactory = Callable[[Any], Device[WallboxReading]]


def default_controllers() -> tuple[Controller, ...]:
    from plant.controllers import CONTROLLERS

    return CONTROLLERS


def default_inverter_factory(config: Any) -> Device[InverterReading]:
    from inverters.drivers import connect_inverter

    return connect_inverter(config)


def default_wallbox_factory(config: Any) -> Device[WallboxReading]:
    from wallbox.drivers import connect_wallbox

    return connect_wallbox(config)


def _connection(config: WallboxConfig) -> tuple[object, ...]:
    """What the driver's connection depends on; other settings change without reconnecting."""
    return (config.type, config.serial, config.address, config.timeout_s)


@dataclass
class CycleResult:
    state: PlantState
    counters: counters.CounterState
    counters_rebased: tuple[str, ...]


@dataclass
class _Inverter:
    config: InverterConfig
    device: Device[InverterReading]
    status: StatusTracker


class PlantRuntime:
    def __init__(
        self,
        config: PlantConfig,
        counter_state: counters.CounterState,
        publisher: Publisher,
        controllers: Sequence[Controller] | None = None,
        *,
        meter: Device[MeterSample] | None = None,
        inverter_factory: InverterFactory | None = None,
        wallbox_factory: WallboxFactory | None = None,
    ) -> None:
        self.config = config
        self.counter_state = counter_state
        self.publisher = publisher
        self.control = ControlLoop(tuple(controllers) if controllers is not None else default_controllers())
        self._inverter_factory = inverter_factory or default_inverter_factory
        self._meter_given = meter is not None
        self.meter: Device[MeterSample] | None = meter or self._connect_meter(config)
        self.meter_status = StatusTracker("meter")
        self.inverters: dict[str, _Inverter] = {}
        self._build_inverters(config)
        self._wallbox_factory = wallbox_factory or default_wallbox_factory
        self.wallboxes: dict[str, BoxRuntime] = {}
        self._build_wallboxes(config)
        self.sequence = 0
        # What the last act step wrote (the sub-second guard, :mod:`plant.fastpass`, only lowers
        # from there) and the guard's lead on slowly settling inverters while it holds.
        self.in_force: tuple[Setpoint, ...] = ()
        self.lead: dict[tuple[str, str], float] = {}
        self.lead_until: dt.datetime | None = None
        # The last read of each inverter and wallbox (None: it did not answer): a guard pass
        # reads again only the devices its guards can act on and takes the others from here.
        self.inverter_readings: dict[str, InverterReading | None] = {}
        self.box_readings: dict[str, WallboxReading | None] = {}

    @staticmethod
    def _connect_meter(config: PlantConfig) -> Device[MeterSample] | None:
        meter = _meter_as_read(config)
        return meter_driver(meter, config.meter_ct_primary_a) if meter else None

    def _build_inverters(self, config: PlantConfig) -> None:
        wanted = {inv.name: inv for inv in config.inverters}
        for name, inverter in list(self.inverters.items()):
            if wanted.get(name) != inverter.config:
                self.inverters.pop(name).device.close()
        for name, inverter_config in wanted.items():
            if name not in self.inverters:
                self.inverters[name] = _Inverter(
                    inverter_config, self._inverter_factory(inverter_config), StatusTracker(name)
                )

    def _build_wallboxes(self, config: PlantConfig) -> None:
        wanted = {box.name: box for box in config.wallboxes}
        for name, box in list(self.wallboxes.items()):
            if name not in wanted or _connection(wanted[name]) != _connection(box.config):
                self.wallboxes.pop(name).device.close()
        for name, box_config in wanted.items():
            if name in self.wallboxes:
                self.wallboxes[name].config = box_config  # mode, rotation, ...: no reconnect
            else:
                self.wallboxes[name] = BoxRuntime(box_config, self._wallbox_factory(box_config), StatusTracker(name))

    def set_wallbox_command(self, command: WallboxCommand | None) -> None:
        """The Modbus client's wallbox command (MB-2), read fresh before each cycle."""
        if command != self.config.wallbox_command:
            self.config = dataclasses.replace(self.config, wallbox_command=command)

    def reconfigure(self, config: PlantConfig) -> None:
        """Take new settings; device connections are rebuilt only when their own settings changed."""
        meter_changed = (_meter_as_read(config), config.meter_ct_primary_a) != (
            _meter_as_read(self.config),
            self.config.meter_ct_primary_a,
        )
        if meter_changed and not self._meter_given:
            if self.meter is not None:
                self.meter.close()
            self.meter = self._connect_meter(config)
            self.meter_status = StatusTracker("meter")
        self._build_inverters(config)
        self._build_wallboxes(config)
        if config.wallbox_command is None:
            config = dataclasses.replace(config, wallbox_command=self.config.wallbox_command)
        self.config = config

    async def cycle(self, now: dt.datetime) -> CycleResult:
        started = time.perf_counter()
        self.sequence += 1

        # 1. read: every device at once, each bounded by its own timeout inside its driver;
        #    a dead device is a status, never an exception.
        names = list(self.inverters)
        boxes = list(self.wallboxes)
        meter_read = asyncio.ensure_future(self._read_meter(now))
        wallbox_reads = asyncio.gather(*(self._read_wallbox(name, now) for name in boxes))
        inverter_reads = await asyncio.gather(*(self._read_inverter(name, now) for name in names))
        box_readings = await wallbox_reads
        sample = await meter_read
        self.inverter_readings = dict(zip(names, inverter_reads, strict=True))
        self.box_readings = dict(zip(boxes, box_readings, strict=True))

        # 2. state: one immutable snapshot.
        rebased: tuple[str, ...] = ()
        if sample is not None:
            raw = counters.named_counters(sample.reading.energy, sample.reading.phase_energy)
            update = counters.advance(self.counter_state, raw, now)
            self.counter_state, rebased = update.state, update.rebased
            if rebased:
                log.warning("meter counters %s went backwards or jumped; totals continue", ", ".join(rebased))
        reading = sample.reading if sample else None
        inverter_states = tuple(
            self._inverter_state(name, read) for name, read in zip(names, inverter_reads, strict=True)
        )
        wallbox_states = tuple(
            self._wallbox_state(name, read, now) for name, read in zip(boxes, box_readings, strict=True)
        )
        summary = self._flow_summary(sample, inverter_states, wallbox_states)
        state = PlantState(
            plant_id=self.config.plant_id,
            timestamp=now,
            sequence=self.sequence,
            meter=reading,
            meter_status=self.meter_status.status,
            flow=compute_flow(self.config.installation_position, reading, summary),
            totals=counters.totals_of(self.counter_state),
            phase_totals=counters.phase_totals_of(self.counter_state),
            devices=(*(inv.status for inv in inverter_states), *(box.status for box in wallbox_states)),
            inverters=inverter_states,
            wallboxes=wallbox_states,
            # The battery as read, with no limits yet: the wallbox modes ask what it can still
            # discharge (WB-7); the limits of this cycle are added at publish.
            battery=self._battery_state(inverter_states, ()),
            feed_in_limit_w=self.config.feed_in_limit.limit_w if self.config.feed_in_limit.enabled else None,
            messages=self._messages(),
            wallbox_command=self.config.wallbox_command if self.config.wallboxes else None,
        )

        # 3. decide: controllers in priority order, bounds combining. The grid operator's limits
        #    (LPC/LPP) in force now follow from the stored facts and the cycle's time.
        config, grid = with_grid_limits(self.config, now)
        state = dataclasses.replace(state, grid_limits=grid)
        outcome = self.control.run(state, config, now)

        # 4. act: each device gets its setpoints (drivers skip unchanged values and refresh watchdogs).
        await self._act(outcome.setpoints, now)

        # 5. publish: Redis (latest values) and the plant's websocket group.
        state = dataclasses.replace(
            state,
            battery=_with_plan(
                self._battery_state(inverter_states, outcome.limits), outcome.memory.get(BatteryManagement.name)
            ),
            wallboxes=tuple(controlled(box, outcome.setpoints, outcome.statuses) for box in wallbox_states),
            setpoints=outcome.setpoints,
            controllers=outcome.statuses,
            cycle_duration_s=time.perf_counter() - started,
        )
        await self.publisher.publish(state)
        return CycleResult(state, self.counter_state, rebased)

    async def _read_meter(self, now: dt.datetime, live: bool = False) -> MeterSample | None:
        """The meter's sample; ``live`` (a guard pass): a driver that can read only the
        instantaneous values (``read_live``) keeps the energy counters of its last read."""
        if self.meter is None:
            self.meter_status.failed(now, "no meter configured")
            return None
        # The driver bounds its own read by READ_DEADLINE_TIMEOUTS timeouts; the backstop one later.
        timeout_s = getattr(self.config.meter, "timeout_s", None) or DEFAULT_METER_TIMEOUT_S
        read = (getattr(self.meter, "read_live", None) if live else None) or self.meter.read
        return await _guarded_call(
            read, self.meter.name, self.meter_status, timeout_s, (READ_BACKSTOP_TIMEOUTS + 1) * timeout_s, now
        )

    async def _read_inverter(self, name: str, now: dt.datetime) -> InverterReading | None:
        inverter = self.inverters[name]
        timeout_s = inverter.config.timeout_s
        # The driver bounds its own read; this is the backstop that keeps the cycle going.
        return await _guarded_read(inverter.device, inverter.status, timeout_s, READ_BACKSTOP_TIMEOUTS * timeout_s, now)

    def _inverter_state(self, name: str, reading: InverterReading | None) -> InverterState:
        config = self.inverters[name].config
        return InverterState(
            name=name,
            type=config.type,
            status=self.inverters[name].status.status,
            controllable=config.controllable,
            max_ac_w=config.max_ac_w,
            ac_power_w=reading.ac_power_w if reading else None,
            dc_power_w=reading.pv_power_w if reading else None,
            limit_pct=reading.limit_pct if reading else None,
            battery_power_w=reading.battery_power_w if reading else None,
            battery_soc_pct=reading.battery_soc_pct if reading else None,
        )

    async def _read_wallbox(self, name: str, now: dt.datetime) -> WallboxReading | None:
        box = self.wallboxes[name]
        timeout_s = box.config.timeout_s
        return await _guarded_read(box.device, box.status, timeout_s, READ_BACKSTOP_TIMEOUTS * timeout_s, now)

    async def _read_wallbox_live(self, name: str, now: dt.datetime) -> WallboxReading | None:
        """The box's live values (state, currents, power) for a guard pass; a driver that can
        read just those (``read_live``) keeps the rest from its last full read."""
        box = self.wallboxes[name]
        timeout_s = box.config.timeout_s
        read = getattr(box.device, "read_live", None) or box.device.read
        return await _guarded_call(
            read, box.device.name, box.status, timeout_s, READ_BACKSTOP_TIMEOUTS * timeout_s, now
        )

    def _wallbox_state(self, name: str, reading: WallboxReading | None, now: dt.datetime) -> WallboxState:
        """The box as read, before the controllers decide (they see this)."""
        box = self.wallboxes[name]
        mode, _ = mode_in_force(box.config, self.config.time_zone, now, command_in_force(self.config, now))
        return wallbox_state(box, reading, mode)

    def _flow_summary(
        self,
        sample: MeterSample | None,
        inverters: tuple[InverterState, ...],
        wallboxes: tuple[WallboxState, ...] = (),
    ) -> FlowSummary | None:
        """With inverters (wallboxes) of its own the product knows PV and battery (charging)
        itself; else it trusts the source."""
        if not inverters and not wallboxes:
            return sample.flow if sample else None
        source = sample.flow if sample and sample.flow else FlowSummary()
        if wallboxes:
            online = [box.power_w for box in wallboxes if box.power_w is not None]
            # What the boxes that answer draw; unknown only when none answers.
            source = dataclasses.replace(source, wallbox_power_w=sum(online) if online else None)
        if not inverters:
            return source
        batteries = [inv for inv in inverters if inv.battery_power_w is not None]
        ac_w = sum(inv.ac_power_w or 0.0 for inv in inverters)
        battery_w = sum(inv.battery_power_w or 0.0 for inv in batteries) if batteries else None
        soc = next((inv.battery_soc_pct for inv in batteries if inv.battery_soc_pct is not None), None)
        return FlowSummary(
            # An inverter's AC output is its PV minus what it puts into its battery.
            pv_power_w=ac_w + (battery_w or 0.0),
            battery_power_w=battery_w,
            battery_soc_pct=soc,
            house_power_w=None,
            wallbox_power_w=source.wallbox_power_w,
        )

    def _battery_state(self, inverters: tuple[InverterState, ...], limits: Sequence[Limit]) -> BatteryState | None:
        """The house battery with the limits in force and why (PL-2)."""
        config = next((inv for inv in self.config.inverters if inv.battery is not None), None)
        if config is None or config.battery is None:
            return None
        inverter = next(inv for inv in inverters if inv.name == config.name)
        bound = Bound()
        for limit in limits:
            if limit.device == config.name and limit.quantity == BATTERY_POWER_W:
                bound = bound.narrowed(limit)
        spec = config.battery
        settings = self.config.battery_management
        return BatteryState(
            name=BATTERY_LABELS.get(spec.type, f"battery of {config.name}"),
            status=inverter.status,
            inverter=config.name,
            capacity_wh=spec.capacity_wh,
            max_charge_w=spec.max_charge_w,
            max_discharge_w=spec.max_discharge_w,
            min_soc_pct=settings.min_soc_pct,
            max_soc_pct=settings.max_soc_pct,
            power_w=inverter.battery_power_w,
            soc_pct=inverter.battery_soc_pct,
            charge_limit_w=bound.max_value,
            charge_limit_reason=bound.max_reason,
            discharge_limit_w=-bound.min_value if bound.min_value is not None else None,
            discharge_limit_reason=bound.min_reason,
        )

    async def _act(self, setpoints: Sequence[Setpoint], now: dt.datetime) -> None:
        if self.lead and self.lead_until is not None and now < self.lead_until:
            setpoints = guard.with_lead(setpoints, self.lead)
        self.in_force = tuple(setpoints)
        writes = []
        targets: list[tuple[str, _Inverter | BoxRuntime]] = [*self.inverters.items(), *self.wallboxes.items()]
        for name, target in targets:
            mine = [s for s in setpoints if s.device == name]
            writes.append(self._write(target, mine, now))
        await asyncio.gather(*writes)

    async def _write(self, target: _Inverter | BoxRuntime, setpoints: list[Setpoint], now: dt.datetime) -> None:
        if not target.status.status.online:
            return
        try:
            await guarded(target.device.write(setpoints), timeout_s=WRITE_TIMEOUT_S, where=target.device.name)
        except DeviceError as exc:
            target.status.failed(now, f"write failed: {exc}")

    def _messages(self) -> tuple[str, ...]:
        if self.meter is None:
            return ("No meter is configured for this plant.",)
        return ()

    async def close(self) -> None:
        """Close device connections; async because it must run in the loop that owns them."""
        if self.meter is not None:
            self.meter.close()
        for inverter in self.inverters.values():
            inverter.device.close()
        for box in self.wallboxes.values():
            box.device.close()


def _meter_as_read(config: PlantConfig) -> MeterConfig | None:
    """The meter's settings as the cycle reads it. With inverters and wallboxes of its own the
    cycle knows PV, battery and the boxes' power itself and uses nothing of the meter's
    energy-flow block (:meth:`PlantRuntime._flow_summary`), so that request is left out."""
    meter = config.meter
    if isinstance(meter, KsemTcpConfig) and meter.read_flow_summary and config.inverters and config.wallboxes:
        return dataclasses.replace(meter, read_flow_summary=False)
    return meter


def with_grid_limits(config: PlantConfig, now: dt.datetime) -> tuple[PlantConfig, GridLimitStatus | None]:
    """The config with the grid operator's limits in force at ``now`` (from its stored facts)."""
    if config.grid_limit_facts is None:
        return config, None
    grid = gridlimit.status(config.grid_limit_facts, now)
    return dataclasses.replace(config, grid_limits=GridOperatorLimits(lpc_w=grid.lpc_w, lpp_w=grid.lpp_w)), grid


async def _guarded_read(
    device: Device[T], status: StatusTracker, timeout_s: float, backstop_s: float, now: dt.datetime
) -> T | None:
    """One device's read for the cycle: whatever it raises, a timeout, a decode error on a
    garbled answer or a driver's bug, marks that device in error with the reason in words and
    returns ``None``; the other devices, the controllers and the publish step carry on."""
    return await _guarded_call(device.read, device.name, status, timeout_s, backstop_s, now)


async def _guarded_call(
    read: Callable[[], Awaitable[T]],
    where: str,
    status: StatusTracker,
    timeout_s: float,
    backstop_s: float,
    now: dt.datetime,
) -> T | None:
    try:
        reading = await guarded(read(), timeout_s=timeout_s, deadline_s=backstop_s, where=where)
    except DeviceError as exc:
        status.failed(now, str(exc))
        return None
    status.ok(now)
    return reading


def _with_plan(battery: BatteryState | None, memory: object) -> BatteryState | None:
    """The battery with grid-optimised charging's plan, when there is one (for the pages and the API)."""
    plan = memory.plan if isinstance(memory, PlanMemory) else None
    if battery is None or plan is None:
        return battery
    return dataclasses.replace(
        battery,
        plan_reason=plan.reason,
        plan=tuple(
            PlannedCharge(start=s.start, charge_w=round(s.charge_w, 1), soc_pct=round(s.soc_pct, 1)) for s in plan.slots
        ),
    )
