"""``WallboxModes``: WB-5 modes (Lock, Power, Solar Pure, Solar Plus, Time Mode), WB-7 battery
use, WB-4 phases in Power mode, a Modbus client's command (MB-2). It requests a current and a
phase count for every configured box, each with its reason; the boxes in a solar mode share the
surplus in :mod:`wallbox.solar`.

House battery (WB-7, one setting per mode, :mod:`wallbox.battery`)
------------------------------------------------------------------
Where the mode in force does not use the battery, ``WallboxModes`` bounds the discharge of the
battery the product manages so that the box's draw is not covered by it, except while its cloud
hysteresis runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import replace

from energy.config import (
    CHARGING_CURRENT_A,
    CHARGING_PHASES,
    LOCK,
    POWER,
    SOLAR_PLUS,
    PlantConfig,
    SolarPlusSettings,
    WallboxConfig,
)
from energy.control import ACTIVE, IDLE, OFF, Decision, Inputs
from energy.state import Limit, Setpoint, Timer
from wallbox.battery import KeptOut, battery_power_of, discharge_bound, managed_battery, uses_battery
from wallbox.common import (
    EPSILON,
    MODBUS_CLIENT,
    NOT_COMMANDED,
    PHASE_CHECK_S,
    box_states,
    clock,
    command_in_force,
    current_request,
    draw_w,
    elapsed_s,
    fixed_phases,
    grid_power_w,
    min_current,
    mode_in_force,
    phases_request,
    switchable,
    timer_name,
    vehicle_phases,
)
from wallbox.memory import BoxMemory, KeptOutDraw, ModeInForce, ModesMemory
from wallbox.plans import CHARGE, plan_now
from wallbox.solar import SolarBox, distribute_surplus

# How long a box kept out of the house battery stays kept out, with its last draw, while it does
# not answer: one lost reply on a busy RS485 line is no reason to let the battery cover its car.
OFFLINE_HOLD_S = 5.0


class WallboxModes:
    """WB-5 modes (Lock, Power, Solar Pure, Solar Plus, Time Mode), WB-6 cloud hysteresis, WB-7
    battery use, WB-4 automatic phases, WB-10 minimum current, WB-14 sharing the surplus."""

    name = "wallbox_modes"

    def __init__(self, *, look_ahead: bool = True) -> None:
        # Off: the manual's cloud hysteresis alone (5 min, then 8 min wait), none of the look-ahead
        # that acts sooner inside it (wallbox.clouds; the replay's "manual" policy compares both
        # on the same trace; the product runs it on).
        self.look_ahead = look_ahead

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        if not config.wallboxes:
            return Decision(state=OFF, reason="no wallbox")
        now = inputs.now
        states = box_states(inputs.state)
        before = inputs.recall(ModesMemory, ModesMemory())
        memory_before = before.boxes
        memory: dict[str, BoxMemory] = {}
        requests: list[Setpoint] = []
        timers: list[Timer] = []
        summary: list[str] = []
        solar: list[SolarBox] = []
        command = command_in_force(config, now)
        limit_a = command.current_limit_a if command is not None else None
        commanded: set[str] = set()
        modes: dict[str, str] = {}  # the mode in force of every box with a vehicle
        for box in config.wallboxes:
            st = states.get(box.name)
            m = memory_before.get(box.name, BoxMemory())
            mode, scheduled = mode_in_force(box, config.time_zone, now, command)
            by_schedule = " (Time Mode)" if scheduled else ""
            if command is not None:
                # MB-2: the Modbus client's request, below the guards' bounds, above the mode.
                commanded.add(box.name)
                if command.mode == SOLAR_PLUS:
                    # "hybrid": the minimum current from the grid, the surplus on top.
                    box = dataclasses.replace(
                        box, solar_plus=SolarPlusSettings(start_power="min", min_solar_share_pct=0)
                    )
            if st is None or not st.status.online:
                memory[box.name] = m
                requests.append(current_request(box.name, 0.0, "wallbox offline"))
                summary.append(f"{box.name}: offline")
                continue
            if not st.vehicle_connected:
                memory[box.name] = BoxMemory()
                requests.append(current_request(box.name, 0.0, "no vehicle"))
                summary.append(f"{box.name}: no vehicle")
                continue
            m = replace(m, mode=ModeInForce(mode))
            modes[box.name] = mode
            if box.manual_pause:
                memory[box.name] = m.stopped()
                requests.append(current_request(box.name, 0.0, "paused by user"))
                summary.append(f"{box.name}: paused by user")
                continue
            if mode == LOCK:
                memory[box.name] = m.stopped()
                requests.append(current_request(box.name, 0.0, f"locked{by_schedule}"))
                summary.append(f"{box.name}: locked{by_schedule}")
                continue
            if limit_a is not None and limit_a < min_current(box) - EPSILON:
                memory[box.name] = m.stopped()
                reason = f"current limit {limit_a:.1f} A is below the minimum current {min_current(box):.0f} A"
                requests.append(current_request(box.name, 0.0, reason))
                summary.append(f"{box.name}: {reason}")
                continue
            planned = plan_now(box, config, st, now, charging=m.on) if command is None else None
            if planned is not None and (planned.action == CHARGE or mode == POWER):
                # Issue 19.3: the plan's slot charges at the maximum current; outside its slots a
                # Power-mode box waits for them (a solar mode runs as configured below).
                on = planned.action == CHARGE
                wanted_a = box.max_current_a if on else 0.0
                reason = planned.reason if on else f"{planned.reason} (waiting)"
                phases = fixed_phases(box, config)
                if on and not m.on:
                    m = replace(m, on=True, since=now)
                memory[box.name] = replace(m, phases=phases, short_since=None, paused_at=None, enough_since=None)
                if not on:
                    memory[box.name] = m.stopped()
                requests += [current_request(box.name, wanted_a, reason), phases_request(box.name, phases, reason)]
                summary.append(f"{box.name}: {reason}")
                continue
            if mode == POWER:
                reason = f"Power mode{by_schedule}: maximum current"
                wanted_a = box.max_current_a
                if limit_a is not None and limit_a < wanted_a:
                    wanted_a, reason = limit_a, f"Power mode: current limit {limit_a:.1f} A"
                phases = fixed_phases(box, config)
                if switchable(box, config):
                    phases, reason, m = self._power_phases(inputs, box, m, reason, timers)
                if not m.on:
                    m = replace(m, on=True, since=now)
                memory[box.name] = replace(m, phases=phases, short_since=None, paused_at=None, enough_since=None)
                requests += [current_request(box.name, wanted_a, reason), phases_request(box.name, phases, reason)]
                summary.append(f"{box.name}: Power mode")
                continue
            bound = inputs.bound(box.name, CHARGING_CURRENT_A).max_value
            cap_a = box.max_current_a if bound is None else min(box.max_current_a, bound)
            if limit_a is not None:
                cap_a = min(cap_a, limit_a)
            phase_bound = inputs.bound(box.name, CHARGING_PHASES).max_value
            solar.append(
                SolarBox(
                    box,
                    st,
                    mode,
                    scheduled,
                    m,
                    cap_a,
                    min_current(box),
                    vehicle=vehicle_phases(st),
                    phase_cap=1 if phase_bound is not None and phase_bound < 3 else 3,
                )
            )
        if solar:
            distribute_surplus(inputs, config, solar, requests, timers, summary, look_ahead=self.look_ahead)
            for item in solar:
                memory[item.box.name] = item.memory
        battery_limit, kept_out = self._battery_bound(inputs, config, modes, solar, before.kept_out)
        if battery_limit is not None:
            summary.append(battery_limit.reason)
        if commanded:
            # Every request for a box under the command says so; a guard that cuts one later
            # replaces the reason with its own.
            requests = [
                dataclasses.replace(r, reason=f"{MODBUS_CLIENT}: {r.reason}")
                if r.device in commanded and r.reason not in NOT_COMMANDED
                else r
                for r in requests
            ]
            summary = [f"{MODBUS_CLIENT}: {line}" if line.split(":")[0] in commanded else line for line in summary]
        charging = any(s.quantity == CHARGING_CURRENT_A and s.value > 0 for s in requests)
        return Decision(
            requests=tuple(requests),
            limits=(battery_limit,) if battery_limit is not None else (),
            memory=ModesMemory(memory, kept_out),
            state=ACTIVE if charging else IDLE,
            reason="; ".join(summary),
            timers=tuple(timers),
        )

    @staticmethod
    def _battery_bound(
        inputs: Inputs,
        config: PlantConfig,
        modes: Mapping[str, str],
        solar: Sequence[SolarBox],
        kept_before: Mapping[str, KeptOutDraw],
    ) -> tuple[Limit | None, dict[str, KeptOutDraw]]:
        """WB-7 "do not use it": the managed battery covers no box whose mode in force keeps it
        out, except a solar box inside its cloud hysteresis (the battery bridges those minutes).

        A box kept out that misses its replies stays kept out with the draw it last showed for
        :data:`OFFLINE_HOLD_S`: it was commanded nothing since, so its car draws what it drew."""
        now = inputs.now
        bridging = {item.box.name for item in solar if item.short and item.memory.on}
        states = box_states(inputs.state)
        kept = {
            box.name: KeptOutDraw(now, modes[box.name], draw_w(states.get(box.name)))
            for box in config.wallboxes
            if box.name in modes and box.name not in bridging and not uses_battery(box, modes[box.name])
        }
        for name, record in kept_before.items():
            st = states.get(name)
            unread = st is None or not st.status.online
            if unread and name not in kept and (now - record.at).total_seconds() <= OFFLINE_HOLD_S:
                kept[name] = record
        device = managed_battery(inputs.requests)
        grid = grid_power_w(inputs.state)
        if device is None or grid is None:
            return None, kept  # no battery the product moves this cycle: nothing to bound
        kept_out = [KeptOut(name, record.mode, record.draw_w) for name, record in kept.items()]
        return discharge_bound(device, grid, battery_power_of(inputs.state, device), kept_out), kept

    @staticmethod
    def _power_phases(
        inputs: Inputs, box: WallboxConfig, m: BoxMemory, reason: str, timers: list[Timer]
    ) -> tuple[int, str, BoxMemory]:
        """WB-4 in Power mode with automatic phase usage: three phases, one while the guards
        leave room for one only, back to three at a 15-minute check the guards let pass.
        (phases, reason, the box's memory with its 3-phase check)."""
        now, name = inputs.now, box.name
        bound = inputs.bound(name, CHARGING_PHASES)
        phases = 1 if (m.phases or 3) == 1 else 3
        if bound.max_value is not None and bound.max_value < 3:
            # The 15 minutes to the next check run from the last cycle held to one phase.
            timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S))
            return 1, f"{reason}, {bound.max_reason}", replace(m, checked_at=now)
        if phases == 3:
            return 3, reason, m
        checked = elapsed_s(m.checked_at, now)
        if checked is None:
            m = replace(m, checked_at=now)
            checked = 0.0
        if checked >= PHASE_CHECK_S:
            return 3, f"{reason}, switching to 3 phases", replace(m, checked_at=now)
        left = PHASE_CHECK_S - checked
        timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=left))
        return 1, f"{reason} on 1 phase, 3-phase check in {clock(left)}", m
