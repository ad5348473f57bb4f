"""The replay: the product's own cycle against the simulated plant, in stepped time.

The simulator's device servers run on free loopback ports in this process's event loop, with
no wall clock of their own. Each step moves simulated time on by one cycle interval, applies
the scenario's events that are due, lets the physics follow, then runs one cycle of the
product: the same drivers over real sockets, the same controllers, the same act step. Nothing
sleeps, so the same scenario and seed give the same trace (apart from ``cycle_ms``, the
measured wall time of each cycle). The event loop is a :class:`replay.clock.SkippingEventLoop`:
when it could only wait (a line's byte time, a driver's timeout) its clock jumps to the next
timer instead, so waits cost loop time but no wall time.

The plant's settings come from the scenario's ``product`` section as a ``PlantConfig``,
built here and never stored: a replay touches no database and no running installation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from energy import forecast as fc
from energy import gridlimit, gridlimit_history
from energy.config import (
    ACTIVE_POWER_LIMIT_PCT,
    CHARGING_CURRENT_A,
    WALLBOX_ADDRESS,
    BatteryManagementSettings,
    FeedInLimitSettings,
    HouseBatteryConfig,
    InverterConfig,
    KsemTcpConfig,
    MainsConfig,
    PlantConfig,
    SerialConfig,
    SolarPlusSettings,
    WallboxConfig,
)
from energy.counters import CounterState
from energy.state import PlantState
from inverters.drivers import connect_inverter
from plant import fastpass
from plant.cycle import PlantRuntime
from replay.clock import SkippingEventLoop
from replay.eebus_link import EebusLink
from replay.plans import plan_settings
from replay.policies import POLICIES, controllers_for
from replay.scenario import ReplayScenario, SmartGrid, WallboxSettings, event_time
from simulator.model import PlantModel
from simulator.runner import Simulator
from simulator.scenario import Scenario, WallboxScenario
from simulator.server import Fault
from simulator.trace import TraceWriter, columns, metrics, read_trace
from wallbox.drivers import connect_wallbox

DEVICE_TIMEOUT_S = 0.5
# The simulated RS485 lines keep a tenth of their real byte time in loop time, enough that two
# frames on the line at once would still overlap and count. The skipping event loop jumps over
# that time instead of waiting for it, so it costs no wall time.
LINE_TIME_SCALE = 0.1
GRID_LIMITS_NOTE = (
    "LPC/LPP events are written by the simulated control box over SHIP/SPINE (TLS websockets on loopback) "
    "to the product's controllable system, which applies them to the limit store at the event's simulated "
    "time; eebus events stop and resume the box's heartbeat or drop and re-dial its connection; the "
    "heartbeat counts once per cycle while it runs over a live connection"
)
# With a guard period: the model is sampled this often between cycles (guard.csv), and these
# columns follow the trace's own (additive; docs/replay.md).
GUARD_SAMPLE_S = 0.05
GUARD_COLUMNS = ("guard_writes", "feed_in_peak_w", "over_limit_s")
GUARD_TRACE_COLUMNS = (
    "time", "pass", "house_w", "feed_in_w", "limit_w", "inverters_w", "setpoint_w", "lead_w", "grid_max_a", "current_a",
)  # fmt: skip
# The replay's forecast looks this far ahead (a day is enough for the battery's plan).
FORECAST_SLOTS = 96
# Feed-in counts as over the limit beyond this (the curtailment benchmark's tolerance).
OVER_LIMIT_TOLERANCE_W = 50.0


class _Discard:
    """The replay publishes nowhere: the trace is its record."""

    async def publish(self, state: PlantState) -> None:
        return None


@dataclass
class _Scheduled:
    at: dt.datetime
    apply: Callable[[], Any]


def plant_config(replay: ReplayScenario, scenario: Scenario, simulator: Simulator) -> PlantConfig:
    product = replay.product
    inverters = tuple(
        InverterConfig(
            name=inverter.name,
            type=inverter.type,
            max_ac_w=inverter.max_ac_w,
            host=simulator.host if inverter.line is None else "",
            port=simulator.port_of(inverter.name),
            # On a simulated RS485 line: its address there, at the line's 57600 8N2, on the line's bus.
            unit_id=71 if inverter.line is None else inverter.address,
            serial=None if inverter.line is None else simulated_line(simulator, inverter.name),
            timeout_s=DEVICE_TIMEOUT_S,
            battery=HouseBatteryConfig(
                type="simulated",
                modules=1,
                capacity_wh=inverter.battery.capacity_wh,
                max_charge_w=inverter.battery.max_power_w,
                max_discharge_w=inverter.battery.max_power_w,
            )
            if inverter.battery is not None
            else None,
        )
        for inverter in scenario.inverters
    )
    generator_w = sum(inverter.max_ac_w for inverter in inverters)
    feed_in = FeedInLimitSettings()
    if product.feed_in_limit is not None and product.feed_in_limit.enabled:
        limit = product.feed_in_limit
        limit_w = limit.limit_w if limit.limit_w is not None else (limit.limit_pct or 0.0) / 100.0 * generator_w
        feed_in = FeedInLimitSettings(
            enabled=True, limit_w=limit_w, release_ramp_pct_per_s=limit.release_ramp_pct_per_s
        )
    battery = BatteryManagementSettings()
    if product.battery_management is not None and product.battery_management.enabled:
        managed = product.battery_management
        battery = BatteryManagementSettings(
            enabled=True,
            min_soc_pct=managed.min_soc_pct,
            max_soc_pct=managed.max_soc_pct,
            grid_optimised=managed.grid_optimised,
            full_by=managed.full_by,
        )
    mains = product.mains
    return PlantConfig(
        plant_id=0,
        name="replay",
        time_zone=scenario.timezone,
        installation_position=product.position,
        meter=KsemTcpConfig(
            simulator.host,
            simulator.meter_port,
            unit_id=1,
            timeout_s=DEVICE_TIMEOUT_S,
            read_flow_summary=not inverters,
        ),
        inverters=inverters,
        feed_in_limit=feed_in,
        battery_management=battery,
        mains=MainsConfig(phases=mains.phases, fuse_a=mains.fuse_a, unbalance_limit_va=mains.unbalance_limit_va)
        if mains is not None
        else MainsConfig(),
        wallboxes=tuple(
            dataclasses.replace(
                wallbox_config(box, settings, simulator), plan=plan_settings(settings.plan, replay, scenario)
            )
            for box, settings in zip(
                scenario.wallboxes,
                replay.product.wallboxes or [WallboxSettings()] * len(scenario.wallboxes),
                strict=True,
            )
        ),
    )


def simulated_line(simulator: Simulator, device: str) -> SerialConfig:
    """The simulated RS485 line ``device`` hangs on, as RTU over TCP, at the ENECTOR's 57600 8N2."""
    return SerialConfig(port=f"socket://{simulator.host}:{simulator.port_of(device)}", baudrate=57600, stopbits=2)


def wallbox_config(box: WallboxScenario, settings: WallboxSettings, simulator: Simulator) -> WallboxConfig:
    """A simulated box: the ENECTOR's line (57600 8N2) as RTU over TCP to its device server."""
    name = box.name
    return WallboxConfig(
        name=name,
        type=box.type,
        serial=simulated_line(simulator, name),
        address=box.address,
        rotation=box.rotation,
        phase_usage=settings.phase_usage,
        mode=settings.mode,
        battery_use=settings.battery_use_per_mode(),
        min_current_a=settings.min_current_a,
        solar_plus=SolarPlusSettings(
            start_power=settings.solar_plus.start_power,
            min_solar_share_pct=settings.solar_plus.min_solar_share_pct,
        ),
        time_mode=settings.time_mode.week() if settings.time_mode is not None else WallboxConfig(name=name).time_mode,
        manual_pause=settings.manual_pause,
        timeout_s=DEVICE_TIMEOUT_S,
    )


class Replay:
    def __init__(
        self,
        replay: ReplayScenario,
        scenario: Scenario,
        *,
        seed: int = 1,
        hours: float | None = None,
        progress: TextIO | None = None,
        policy: str = "product",
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
        self.policy = policy
        self.replay = replay
        # The plain car load of the simulator is not a wallbox the product could control; the
        # boxes of ``wallboxes`` answer at the manager's address (already set up) unless the
        # scenario gives one: 100, then 101, ... for further boxes on the same line.
        given = replay.wallboxes if isinstance(replay.wallboxes, list) else []
        on_line: dict[str, int] = {}
        placed = []
        for box, raw in zip(scenario.wallboxes, given, strict=True):
            line = box.line or box.name
            if not (isinstance(raw, dict) and "address" in raw):
                box = dataclasses.replace(box, address=WALLBOX_ADDRESS + on_line.get(line, 0))
            on_line[line] = on_line.get(line, 0) + 1
            placed.append(box)
        boxes = tuple(placed)
        self.scenario = dataclasses.replace(scenario, wallbox=None, wallboxes=boxes)
        self.seed = seed
        self.hours = hours if hours is not None else replay.hours
        self.progress = progress
        start = self.scenario.start
        assert start is not None
        self.start = start
        self.model = PlantModel(self.scenario, seed=seed, start=start)
        if replay.house_phase_split is not None:
            split = replay.house_phase_split
            self.model.set_house_phase_split((split[0], split[1], split[2]))
        self.simulator = Simulator(
            self.model,
            host="127.0.0.1",
            meter_port=0,
            inverter_port_base=0,
            wallbox_port_base=0,
            line_time_scale=LINE_TIME_SCALE,
        )
        self.grid: gridlimit_history.LimitStore | None = None
        self.link: EebusLink | None = None
        self._grid_lock = threading.Lock()
        self._sim_now = start
        self.rejected: list[str] = []
        if replay.product.smartgrid is not None or any(e.kind in ("lpc_w", "lpp_w", "eebus") for e in replay.events):
            values = replay.product.smartgrid or SmartGrid()
            # The controllable system starts with the replay: init, limited to the failsafe values.
            self.grid = gridlimit_history.LimitStore(
                gridlimit.initial(
                    start,
                    failsafe_consumption_w=values.failsafe_consumption_w,
                    failsafe_production_w=values.failsafe_production_w,
                    failsafe_duration_s=values.failsafe_duration_s,
                    consumption_nominal_max_w=values.consumption_nominal_max_w,
                    production_nominal_max_w=values.production_nominal_max_w,
                )
            )
            self.link = EebusLink(self.grid, lambda: self._sim_now, self._grid_lock)
        self._guard_writes, self._peak_w, self._over_s = 0, float("-inf"), 0.0
        self._lpp_w: float | None = None
        self._forecast_slot_s: float | None = None
        self._guard_writer: TraceWriter

    def run(self, out_dir: Path) -> dict[str, Any]:
        """Run the whole scenario; writes trace.csv and summary.json into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        cycle_s = self.replay.cycle_s
        cycles = round(self.hours * 3600.0 / cycle_s)
        wall_started = time.perf_counter()
        with (
            (out_dir / "trace.csv").open("w", encoding="utf-8", newline="") as stream,
            asyncio.Runner(loop_factory=SkippingEventLoop) as runner,
        ):
            if self.replay.guard_period_s is None:
                runner.run(self._run(stream, cycles))
            else:
                with (out_dir / "guard.csv").open("w", encoding="utf-8", newline="") as guard_stream:
                    self._guard_writer = TraceWriter(guard_stream, GUARD_TRACE_COLUMNS)
                    runner.run(self._run(stream, cycles))
        wall_s = time.perf_counter() - wall_started
        rows = read_trace((out_dir / "trace.csv").read_text(encoding="utf-8"))
        lines = self.simulator.line_counters()
        summary: dict[str, Any] = {
            **metrics(rows, cycle_s),
            "cycles": cycles,
            "cycle_s": cycle_s,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "wall_s": round(wall_s, 2),
            "speed_x": round(self.hours * 3600.0 / wall_s, 1) if wall_s > 0 else None,
            "policy": self.policy,
        }
        if lines:
            # From the simulated RS485 lines, not the trace: what a collision or a damaged frame
            # would have cost (zero with one owner per line).
            summary["rs485"] = {
                name: {"requests": c.requests, "collisions": c.collisions, "crc_errors": c.crc_errors}
                for name, c in lines.items()
            }
        if self.grid is not None:
            summary["note"] = GRID_LIMITS_NOTE
            summary["grid_limit_history"] = [
                {
                    "direction": e.direction,
                    "kind": e.kind,
                    "value_w": e.value_w,
                    "valid_from": e.valid_from.isoformat(),
                    "valid_to": e.valid_to.isoformat() if e.valid_to else None,
                }
                for e in self.grid.history.entries
            ]
            if self.rejected:
                summary["grid_limit_rejected"] = self.rejected
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return summary

    async def _run(self, stream: TextIO, cycles: int) -> None:
        cycle_s = self.replay.cycle_s
        await self.simulator.start(clock=False)
        runtime: PlantRuntime | None = None
        if self.link is not None:
            self.link.start()
        try:
            self.config = plant_config(self.replay, self.scenario, self.simulator)
            runtime = PlantRuntime(
                self.config,
                CounterState(),
                _Discard(),
                controllers_for(self.policy),
                # The drivers' watchdog refresh must run on simulated time, like the inverters' watchdog.
                inverter_factory=partial(connect_inverter, clock=self._simulated_s),
                # So must the wallboxes' heartbeat: the simulated box falls back after 10 simulated s.
                wallbox_factory=partial(connect_wallbox, clock=self._simulated_s),
            )
            schedule = self._schedule(runtime)
            header = columns(len(self.scenario.inverters), len(self.scenario.wallboxes))
            guarded = self.replay.guard_period_s is not None
            writer = TraceWriter(stream, (*header, *GUARD_COLUMNS) if guarded else header)
            for k in range(1, cycles + 1):
                now = self.start + dt.timedelta(seconds=k * cycle_s)
                self._forecast_step(runtime, now)
                if guarded:
                    await self._between_cycles(runtime, schedule, now - dt.timedelta(seconds=cycle_s))
                while schedule and schedule[0].at <= now:
                    await _maybe_await(schedule.pop(0).apply())
                self._grid_step(runtime, now)
                self.simulator.step(now)
                result = await runtime.cycle(now)
                row = self._row(result.state)
                if guarded:
                    self._guard_sample(runtime, now, "cycle", 0.0)
                    row.update(self._guard_columns())
                writer.write(row)
                if self.progress is not None and k % max(cycles // 10, 1) == 0:
                    print(f"replay: {k}/{cycles} cycles ({now:%H:%M:%S} UTC)", file=self.progress)
        finally:
            if runtime is not None:
                await runtime.close()
            await self.simulator.stop()
            if self.link is not None:
                self.link.stop()

    # --- the forecast ----------------------------------------------------------------------------
    def _forecast_step(self, runtime: PlantRuntime, now: dt.datetime) -> None:
        """Every 15 simulated minutes (and at the start) a forecast into the plant's settings, as the
        product's 15-minute job stores one: the clear-sky model for the scenario's location and PV
        peak with the scenario's base load (a cold start, no history), so a cloudy scenario day is
        a day cloudier than forecast. Only with a managed battery (the forecast's one reader)."""
        if not self.config.battery_management.enabled:
            return
        slot_s = fc.slot_floor(now.timestamp())
        if self._forecast_slot_s == slot_s:
            return
        self._forecast_slot_s = slot_s
        scenario = self.scenario
        site = fc.Site(
            latitude_deg=scenario.latitude_deg,
            longitude_deg=scenario.longitude_deg,
            peak_w=sum(inverter.pv_peak_w for inverter in scenario.inverters),
            time_zone=scenario.timezone,
            base_load_w=scenario.house_base_w,
        )
        runtime.config = dataclasses.replace(runtime.config, forecast=fc.compute(now, site, slots=FORECAST_SLOTS))
        self.config = runtime.config

    # --- the sub-second guard --------------------------------------------------------------------
    async def _between_cycles(self, runtime: PlantRuntime, schedule: list[_Scheduled], since: dt.datetime) -> None:
        """The model sampled every GUARD_SAMPLE_S from ``since`` to just before the next cycle,
        events applied at their own moment, and a guard pass every guard period."""
        period_s = self.replay.guard_period_s or 0.0
        steps = round(self.replay.cycle_s / GUARD_SAMPLE_S)
        per_pass = round(period_s / GUARD_SAMPLE_S)
        for j in range(1, steps):
            at = since + dt.timedelta(seconds=j * GUARD_SAMPLE_S)
            while schedule and schedule[0].at <= at:
                event = schedule.pop(0)
                self.simulator.step(max(event.at, self.model.now))
                await _maybe_await(event.apply())
            self.simulator.step(at)
            if j % per_pass == 0:
                result = await fastpass.guard_pass(runtime, at, period_s)
                self._guard_writes += bool(result.written)
                self._guard_sample(runtime, at, "guard", result.lead_w)
            else:
                self._guard_sample(runtime, at, "", 0.0)

    def _guard_sample(self, runtime: PlantRuntime, at: dt.datetime, kind: str, lead_w: float) -> None:
        truth = self.model.truth()
        feed_in_w = -self.model.reading().active_power_w
        limits = [w for w in (self._lpp_w,) if w is not None]
        if self.config.feed_in_limit.enabled:
            limits.append(self.config.feed_in_limit.limit_w)
        limit_w = min(limits) if limits else None
        max_ac = {spec.name: spec.max_ac_w for spec in self.scenario.inverters}
        setpoint_w = sum(
            max_ac.get(s.device, 0.0) * s.value / 100.0
            for s in runtime.in_force
            if s.quantity == ACTIVE_POWER_LIMIT_PCT
        )
        self._peak_w = max(self._peak_w, feed_in_w)
        if limit_w is not None and feed_in_w > limit_w + OVER_LIMIT_TOLERANCE_W:
            self._over_s += GUARD_SAMPLE_S
        reading = self.model.reading()
        currents = [s.value for s in runtime.in_force if s.quantity == CHARGING_CURRENT_A]
        self._guard_writer.write(
            {
                "grid_max_a": max(phase.current_a for phase in reading.phases),
                "current_a": min(currents) if currents else None,
                "time": at.isoformat(),
                "pass": kind,
                "house_w": truth.house_w,
                "feed_in_w": feed_in_w,
                "limit_w": limit_w,
                "inverters_w": sum(w or 0.0 for w in truth.inverter_ac_w.values()),
                "setpoint_w": setpoint_w,
                "lead_w": lead_w,
            }
        )

    def _guard_columns(self) -> dict[str, Any]:
        """The guard's second since the last row: passes that wrote, the highest feed-in
        sampled, and how long it was over the limit (at GUARD_SAMPLE_S resolution)."""
        row = {"guard_writes": self._guard_writes, "feed_in_peak_w": self._peak_w, "over_limit_s": self._over_s}
        self._guard_writes, self._peak_w, self._over_s = 0, float("-inf"), 0.0
        return row

    def _simulated_s(self) -> float:
        return self.model.now.timestamp()

    # --- events ----------------------------------------------------------------------------------
    def _schedule(self, runtime: PlantRuntime) -> list[_Scheduled]:
        items: list[_Scheduled] = []
        for event in self.replay.events:
            at = event_time(event.at, self.scenario)
            kind = event.kind
            if kind == "house_phase_w":
                phases = event.house_phase_w
                items.append(_Scheduled(at, partial(self.model.set_extra_house_load, _phases(phases))))
            elif kind == "cloud":
                until = at + dt.timedelta(seconds=event.for_s or 0.0)
                items.append(_Scheduled(at, partial(self.model.set_cloud, event.cloud or 0.0, until=until)))
            elif kind == "fault":
                fault = Fault.parse(event.fault or "none", event.delay_s)
                device = event.device or "meter"
                items.append(_Scheduled(at, partial(self.simulator.set_fault, fault, device)))
                if event.duration_s is not None:
                    end = at + dt.timedelta(seconds=event.duration_s)
                    items.append(_Scheduled(end, partial(self.simulator.set_fault, Fault.parse("none"), device)))
            elif kind == "eebus":
                items.append(_Scheduled(at, partial(self._eebus, event.eebus or "")))
            else:
                direction = gridlimit.CONSUME if kind == "lpc_w" else gridlimit.PRODUCE
                value = getattr(event, kind)
                items.append(_Scheduled(at, partial(self._write_limit, direction, value, event.duration_s, at)))
        items.sort(key=lambda item: item.at)
        return items

    def _write_limit(self, direction: str, value_w: float, duration_s: float | None, at: dt.datetime) -> None:
        """The control box writes the limit over SHIP/SPINE; the controllable system applies it at ``at``."""
        assert self.link is not None
        with self._grid_lock:
            self._sim_now = at
        kind = "lpc" if direction == gridlimit.CONSUME else "lpp"
        results = self.link.write_limit(kind, value_w, duration_s)
        if not results:
            self.rejected.append(f"{at.isoformat()}: not sent, the control box is not connected")
        for result in results:
            if result["error"] != 0:
                self.rejected.append(f"{at.isoformat()}: SPINE error {result['error']}: {result['description']}")

    def _eebus(self, action: str) -> None:
        assert self.link is not None
        if action in ("heartbeat_stop", "heartbeat_resume", "heartbeat_start"):
            self.link.set_heartbeat(action != "heartbeat_stop")
        elif action == "disconnect":
            self.link.disconnect()
        elif action == "reconnect":
            self.link.reconnect()

    def _grid_step(self, runtime: PlantRuntime, now: dt.datetime) -> None:
        """The control box's heartbeat (while it runs over a live connection), the timers due, and the
        facts for this cycle."""
        if self.grid is None or self.link is None:
            return
        with self._grid_lock:
            self._sim_now = now
            if self.link.heartbeat_live():
                self.grid.heartbeat(now)
            self.grid.settle(now)
        runtime.config = dataclasses.replace(runtime.config, grid_limit_facts=self.grid.facts)
        self.config = runtime.config

    # --- the trace -------------------------------------------------------------------------------
    def _row(self, state: PlantState) -> dict[str, Any]:
        truth = self.model.truth()
        # The grid operator's feed-in limit of the last cycle, for the guard's samples between cycles.
        self._lpp_w = state.grid_limits.lpp_w if state.grid_limits else None
        meter = state.meter
        row: dict[str, Any] = {
            "time": state.timestamp.isoformat(),
            "house_w": truth.house_w,
            "pv_available_w": truth.pv_available_w,
            "pv_w": truth.pv_w,
            "battery_w": truth.battery_w,
            "battery_soc_pct": truth.battery_soc_pct,
            "feed_in_limit_w": self.config.feed_in_limit.limit_w if self.config.feed_in_limit.enabled else None,
            "lpc_w": state.grid_limits.lpc_w if state.grid_limits else None,
            "lpp_w": state.grid_limits.lpp_w if state.grid_limits else None,
            "lpc_state": state.grid_limits.consume.state if state.grid_limits else None,
            "cycle_ms": state.cycle_duration_s * 1000.0,
        }
        for n, current in enumerate(truth.house_phase_a, start=1):
            row[f"house_l{n}_a"] = current
        if self.scenario.wallboxes:
            row["ev_w"] = truth.ev_w
            for n, current in enumerate(truth.ev_phase_a, start=1):
                row[f"ev_l{n}_a"] = current
        if meter is not None:
            row["grid_w"] = meter.active_power_w
            for n, phase in enumerate(meter.phases, start=1):
                row[f"grid_l{n}_w"] = phase.active_power_w
                row[f"grid_l{n}_a"] = phase.current_a
        setpoints = {s.device: s.value for s in state.setpoints if s.quantity == ACTIVE_POWER_LIMIT_PCT}
        inverters = {inv.name: inv for inv in state.inverters}
        for n, spec in enumerate(self.scenario.inverters, start=1):
            seen = inverters.get(spec.name)
            online = bool(seen and seen.status.online)
            if seen is not None and seen.controllable and online:
                row[f"inverter_{n}_setpoint_pct"] = setpoints.get(spec.name, 100.0)
            row[f"inverter_{n}_w"] = truth.inverter_ac_w.get(spec.name)
            row[f"inverter_{n}_online"] = online
        if self.replay.product.mains is not None or self.scenario.wallboxes:
            row["fuse_a"] = self.config.mains.fuse_a
        boxes = {box.name: box for box in state.wallboxes}
        for n, wallbox in enumerate(self.scenario.wallboxes, start=1):
            box = boxes.get(wallbox.name)
            if box is None:
                continue
            row[f"wallbox_{n}_state"] = box.state
            row[f"wallbox_{n}_mode"] = box.mode
            row[f"wallbox_{n}_phases"] = box.phases
            row[f"wallbox_{n}_current_a"] = box.current_a
            row[f"wallbox_{n}_w"] = box.power_w
            row[f"wallbox_{n}_reason"] = box.reason
        return row


def _phases(value: list[float] | None) -> tuple[float, float, float] | None:
    return None if value is None else (value[0], value[1], value[2])


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value


def print_summary(summary: dict[str, Any], stream: TextIO = sys.stdout) -> None:
    print(json.dumps(summary, indent=2, sort_keys=True), file=stream)
