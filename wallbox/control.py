"""Pure controllers for charging cars at ENECTOR wallboxes (WB-4 .. WB-10, WB-14).

Every controller is a function of one cycle's :class:`~energy.control.Inputs`; it touches no
Django, socket or clock. Two run in the product, highest priority first
(:data:`WALLBOX_CONTROLLERS`):

``WallboxGuards`` (grid-operator LPC, main fuse WB-8, unbalanced load WB-9)
    bounds each box's charging current (``Limit.max_value`` on CHARGING_CURRENT_A). A bound is
    always 0 or at least the box's minimum current, never in between.
``WallboxModes`` (WB-5 modes, WB-6 hysteresis, WB-7 battery use, WB-4 phases, WB-10, WB-14)
    requests a current and a phase count for every configured box, each with its reason.
``EvccPvReference``
    evcc's documented "pv" mode, usable in place of ``WallboxModes`` so the replay can compare
    both on the same scenario.

Signs and units
---------------
Grid: purchase (+), feed-in (-). Battery: charge (+), discharge (-). Currents per phase in A,
powers in W, :data:`~energy.config.NOMINAL_VOLTAGE_V` (230 V) per phase.

Surplus (what the solar modes may give to cars)
-----------------------------------------------
``surplus_w = -grid_w + battery_w + sum(power_w of the boxes charging in a solar mode)``

- ``-grid_w``: what is fed in now (negative when buying).
- ``+ battery_w``: a charging house battery gives way to the car (WB-7: PV surplus goes to the
  vehicle before the house battery); a discharging one *lowers* the surplus, so a car never
  lives on the battery unless its box says so.
- ``+ cars``: what the solar-mode cars draw now is surplus they already use. Cars charging in
  Power mode (or held by Lock/pause) are not added: their draw is load like the house.

House battery (WB-7, one setting per mode, :mod:`wallbox.battery`)
------------------------------------------------------------------
Where the mode in force uses the battery ("use it"), a box may in addition draw what the battery
can still discharge (its discharge limit, else its maximum) while the battery is above its
minimum SoC; then a solar mode never stops for lack of PV until the battery reaches its minimum.
Where it does not, ``WallboxModes`` bounds the discharge of the battery the product manages so
that the box's draw is not covered by it, except while its cloud hysteresis runs.

Main fuse (WB-8)
----------------
Per grid phase ``p`` (the box's rotation maps its L1..L3 to grid phases; a 1-phase box uses its
L1): ``other_p = max(0, signed grid current_p - sum of the contending boxes' currents on p)``,
``available_p = fuse_a - margin - other_p`` with ``margin = max(0.3 A, 1 % of fuse_a)``, so
that meter noise and a load creeping up between two cycles stay under the rating. The boxes on
``p`` share ``available_p``; the bound follows the measurement of the same cycle, so a house
load step lowers the charging current at once.
PV feed-in on a phase is not counted as headroom (a cloud would take it away faster than a
car follows). Without a grid measurement every box is held at its minimum current.

Unbalanced load (WB-9)
----------------------
Boxes that charge on fewer than three grid phases (1-phase boxes, a 1-phase car at a 3-phase
box, seen from the measured currents or known from the box's detection) may together put at most ``unbalance_limit_va / 230``
amperes on any one phase. As three-phase charging loads all phases alike, the difference
between phase currents caused by charging then never exceeds the limit, whatever the other
boxes draw (they may stop at any time). A car whose phases are not known yet (just plugged in,
not detected, not drawing) counts here on every phase its box may load: it may turn out 1- or
2-phase, and then all of its current lands on one of them.

Fairness (WB-14)
----------------
Hard limits are shared max-min fair (:mod:`wallbox.policy`): all boxes rise alike until a limit
holds them; a box whose share is below its minimum current drops out (the one last in
priority: charging boxes before waiting ones, then configuration order) and the others share
again. Surplus gives every charging box its floor first, then equal watts on top.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from energy import wording
from energy.config import (
    CHARGING_CURRENT_A,
    CHARGING_PHASES,
    GRID_POSITION,
    HOURLY_MODES,
    LOCK,
    NOMINAL_VOLTAGE_V,
    PHASES_AUTO,
    PHASES_SINGLE,
    POWER,
    ROTATIONS,
    SOLAR_PLUS,
    TIME_MODE,
    PlantConfig,
    SolarPlusSettings,
    WallboxConfig,
)
from energy.control import ACTIVE, IDLE, LIMITING, OFF, Controller, Decision, Inputs
from energy.state import WALLBOX_CHARGING, Limit, PlantState, Setpoint, Timer, WallboxCommand, WallboxState
from wallbox.battery import KeptOut, battery_power_of, discharge_bound, managed_battery, uses_battery
from wallbox.policy import Capacity, Share, fair_currents, floor_step, share_power

V = NOMINAL_VOLTAGE_V
# MB-2: the reason of every request a Modbus client's command makes.
MODBUS_CLIENT = "Modbus client"
# What no command changes: it says nothing of the client.
_NOT_COMMANDED = frozenset({"wallbox offline", "no vehicle", "paused by user"})
# A phase carrying more than this is in use (evcc's minActiveCurrent).
ACTIVE_CURRENT_A = 1.0
# WB-10: the minimum charging current the box itself accepts.
BOX_MIN_CURRENT_A = 6.0
# WB-6: keep the minimum current this long when surplus is missing, then pause ...
HYSTERESIS_S = 300.0
# ... and resume no sooner than this after the pause.
RESUME_S = 480.0
# Surplus must hold at the start threshold this long before charging starts (a passing gap in
# the clouds is no reason to close the contactor).
START_DELAY_S = 60.0
# A car released this long that still takes nothing leaves its share of the surplus to others.
IDLE_AFTER_S = 120.0
# WB-8: charging keeps this much under the fuse (the larger of the two), so meter noise and a
# house load creeping up between two cycles do not read as a phase over its fuse.
FUSE_MARGIN_A = 0.3
FUSE_MARGIN_SHARE = 0.01
# WB-4: every 15 min check whether 3-phase charging is possible ...
PHASE_CHECK_S = 900.0
# ... with the available current at least 7 % above the 3-phase minimum.
PHASE_UP_HEADROOM = 1.07
# Solar Plus start power as a fraction of the vehicle's power range.
START_FRACTIONS = {"min": 0.0, "50": 0.5, "75": 0.75, "max": 1.0}
EPSILON = 1e-6


# --- shared helpers ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def command_in_force(config: PlantConfig, now: dt.datetime) -> WallboxCommand | None:
    """The Modbus client's wallbox command (MB-2) when it holds at ``now``: not released, not
    older than :data:`~energy.config.WALLBOX_COMMAND_TIMEOUT_S`."""
    command = config.wallbox_command
    return command if command is not None and command.in_force(now) else None


def mode_in_force(
    box: WallboxConfig, time_zone: str, now: dt.datetime, command: WallboxCommand | None = None
) -> tuple[str, bool]:
    """The mode that holds for ``box`` at ``now``: (mode, True when Time Mode chose it).

    A Modbus client's command in force (``command``, see :func:`command_in_force`) that names a
    mode replaces the box's own. Time Mode is resolved in the plant's local time (DST included:
    on the night the clocks go back the repeated hour keeps the mode of its hour both times).
    """
    if command is not None and command.mode is not None:
        return (command.mode if command.mode in HOURLY_MODES else LOCK), False
    if box.mode != TIME_MODE:
        return (box.mode if box.mode in HOURLY_MODES else LOCK), False
    local = now.astimezone(_zone(time_zone or "UTC"))
    try:
        mode = box.time_mode[local.weekday()][local.hour]
    except IndexError:
        mode = LOCK
    # A malformed schedule charges nothing rather than something unexpected.
    return (mode if mode in HOURLY_MODES else LOCK), True


def box_states(state: PlantState) -> dict[str, WallboxState]:
    return {box.name: box for box in state.wallboxes}


def draw_w(box: WallboxState | None) -> float:
    """What a box draws now, in W."""
    if box is None:
        return 0.0
    if box.power_w is not None:
        return max(0.0, box.power_w)
    return sum(max(0.0, current) for current in box.phase_currents_a) * V


def fixed_phases(box: WallboxConfig, config: PlantConfig) -> int:
    """The phase count a box uses when it does not switch automatically."""
    if box.max_phases == 1 or box.phase_usage == PHASES_SINGLE or config.mains.phases == 1:
        return 1
    return 3


def switchable(box: WallboxConfig, config: PlantConfig) -> bool:
    return box.max_phases == 3 and box.phase_usage == PHASES_AUTO and config.mains.phases == 3


def vehicle_phases(st: WallboxState | None) -> int:
    """How many phases the car at a box may charge on: what the box knows of it, else three."""
    if st is None or st.vehicle_phases is None:
        return 3
    return max(1, min(3, st.vehicle_phases))


def fuse_margin(fuse_a: float) -> float:
    """How far under the fuse rating the guard holds a phase (WB-8)."""
    return max(FUSE_MARGIN_A, FUSE_MARGIN_SHARE * fuse_a)


def min_current(box: WallboxConfig) -> float:
    return max(BOX_MIN_CURRENT_A, min(box.min_current_a, box.max_current_a))


def grid_phases(box: WallboxConfig, phases: int, config: PlantConfig) -> tuple[int, ...]:
    """The grid phases (0..2) a box charging on ``phases`` phases loads."""
    if config.mains.phases == 1:
        return (0,)
    rotation = ROTATIONS.get(box.rotation, (0, 1, 2))
    return rotation[:1] if phases == 1 else rotation


def battery_power_w(state: PlantState) -> float:
    """All house batteries together (the energy flow), else the one the product knows."""
    if state.flow.battery_power_w is not None:
        return state.flow.battery_power_w
    if state.battery is not None and state.battery.power_w is not None:
        return state.battery.power_w
    return 0.0


def grid_power_w(state: PlantState) -> float | None:
    if state.flow.grid_power_w is not None:
        return state.flow.grid_power_w
    return state.meter.active_power_w if state.meter is not None else None


def battery_headroom_w(state: PlantState, config: PlantConfig) -> float:
    """What the house battery may discharge in all (WB-7 "use it"): its discharge limit, else
    its maximum; 0 at its minimum SoC. The surplus already counts what it discharges now (a
    discharging battery lowers it), so this is added in full, not less its present power."""
    battery = state.battery
    if battery is None or battery.soc_pct is None or not battery.status.online:
        return 0.0
    min_soc = battery.min_soc_pct if battery.min_soc_pct else config.battery_management.min_soc_pct
    if battery.soc_pct <= min_soc:
        return 0.0
    limit = battery.discharge_limit_w if battery.discharge_limit_w is not None else battery.max_discharge_w
    return max(0.0, limit)


def _at(memory: Mapping[str, Any], key: str) -> dt.datetime | None:
    value = memory.get(key)
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _elapsed(memory: Mapping[str, Any], key: str, now: dt.datetime) -> float | None:
    moment = _at(memory, key)
    return None if moment is None else (now - moment).total_seconds()


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def kw(power_w: float) -> str:
    return f"{power_w / 1000:.1f} kW"


def timer_name(box: str, what: str) -> str:
    """Timers of the wallbox controllers are named ``"<box>: <what>"``; see :func:`timers_for`."""
    return f"{box}: {what}"


def timers_for(box: str, timers: Sequence[Timer]) -> tuple[Timer, ...]:
    """The timers of one box among a controller's timers, named without the box."""
    prefix = f"{box}: "
    return tuple(
        Timer(name=t.name[len(prefix) :], seconds_left=t.seconds_left) for t in timers if t.name.startswith(prefix)
    )


def _current(box: str, value: float, reason: str) -> Setpoint:
    return Setpoint(device=box, quantity=CHARGING_CURRENT_A, value=round(value, 3), reason=reason)


def _phases(box: str, value: int, reason: str) -> Setpoint:
    return Setpoint(device=box, quantity=CHARGING_PHASES, value=float(value), reason=reason)


# --- guards ------------------------------------------------------------------------------------


class WallboxGuards:
    """Grid-operator LPC, main fuse per phase (WB-8) and unbalanced load (WB-9) as bounds on
    every contending box's charging current, shared fairly and acting in the same cycle."""

    name = "wallbox_guards"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        if not config.wallboxes:
            return Decision(state=OFF, reason="no wallbox")
        states = box_states(inputs.state)
        seen_before: Mapping[str, Any] = inputs.memory.get("seen", {})
        seen: dict[str, Any] = {}
        boxes: list[tuple[WallboxConfig, WallboxState]] = []
        command = command_in_force(config, inputs.now)
        for box in config.wallboxes:
            st = states.get(box.name)
            if st is None or not st.status.online or not st.vehicle_connected or box.manual_pause:
                continue
            if mode_in_force(box, config.time_zone, inputs.now, command)[0] == LOCK:
                continue
            boxes.append((box, st))
        phase_limits: list[Limit] = []
        if config.mains.phases == 1:
            phase_limits = [
                Limit(device=b.name, quantity=CHARGING_PHASES, max_value=1.0, reason="1-phase mains connection")
                for b in config.wallboxes
                if b.max_phases == 3
            ]
        if not boxes:
            return Decision(limits=tuple(phase_limits), state=IDLE, reason="no car to charge", memory={"seen": {}})

        phase_sets: dict[str, tuple[int, ...]] = {}  # grid phases a box may load (fuse, LPC)
        lopsided_sets: dict[str, tuple[int, ...]] = {}  # its phases when fewer than three (unbalance)
        for box, st in boxes:
            loads, record = self._phases_of(box, st, config, seen_before.get(box.name))
            if record is not None:
                seen[box.name] = record
            lopsided_sets[box.name] = loads if len(loads) < 3 else ()
            drawing = any(current > ACTIVE_CURRENT_A for current in st.phase_currents_a)
            if switchable(box, config) and not drawing:
                # It may come back on three phases after a switch: count it on all of them, or
                # on as many as its car is known to use.
                loads = grid_phases(box, 3, config)[: vehicle_phases(st)]
            phase_sets[box.name] = loads
            if record is None and st.vehicle_phases is None:
                # Issue 13.10: a car whose phases are not known yet counts at its worst for
                # every limit. Fuse and LPC already count it on every phase it may load (its
                # current per phase, three phases for the power). For the unbalance it may
                # turn out 1- or 2-phase, so all of its current could land on any one of them.
                lopsided_sets[box.name] = loads
        maxima = {box.name: box.max_current_a for box, _ in boxes}
        minima = {box.name: min_current(box) for box, _ in boxes}
        notes: list[str] = []
        measured = inputs.state.meter is not None and config.installation_position == GRID_POSITION
        if not measured:
            for name in maxima:
                maxima[name] = min(maxima[name], minima[name])
            notes.append("no grid measurement: minimum current")
        grid = grid_power_w(inputs.state)
        if config.grid_limits.lpc_w is not None and grid is None:
            for name in maxima:
                maxima[name] = min(maxima[name], minima[name])
            notes.append("LPC without measurement: minimum current")
        # Boxes that charge now keep their place before boxes that wait.
        priority = [b.name for b, st in boxes if st.state == WALLBOX_CHARGING] + [
            b.name for b, st in boxes if st.state != WALLBOX_CHARGING
        ]

        def fair(sets: Mapping[str, tuple[int, ...]], lopsided: Mapping[str, tuple[int, ...]]) -> dict[str, Share]:
            capacities = self._capacities(inputs, config, boxes, sets, lopsided)
            return fair_currents(maxima, minima, capacities, priority)

        shares = fair(phase_sets, lopsided_sets)
        limits: list[Limit] = list(phase_limits)
        # WB-4 with automatic phase usage: a box the limits hold off three phases charges on one
        # if that leaves room for its minimum (the switch pauses it first); it returns to three
        # only when three phases have the 7 % headroom again.
        for box, st in boxes:
            if not switchable(box, config) or vehicle_phases(st) < 3:
                continue
            name = box.name
            one, three = grid_phases(box, 1, config), grid_phases(box, 3, config)
            reason = ""
            if len(phase_sets[name]) == 3 and shares[name].current_a < minima[name] - EPSILON:
                trial = fair({**phase_sets, name: one}, {**lopsided_sets, name: one})
                if trial[name].current_a >= minima[name] - EPSILON:
                    reason = shares[name].reason
                    # Still drawing on more than one phase: paused now, the switch follows.
                    if sum(current > ACTIVE_CURRENT_A for current in st.phase_currents_a) <= 1:
                        shares = trial
                        phase_sets, lopsided_sets = {**phase_sets, name: one}, {**lopsided_sets, name: one}
            elif st.phases == 1 and len(phase_sets[name]) < 3:
                room = fair({**phase_sets, name: three}, {**lopsided_sets, name: ()})[name]
                if room.current_a < PHASE_UP_HEADROOM * minima[name] - EPSILON and room.reason not in (
                    "",
                    "box maximum",
                ):
                    reason = room.reason
            if reason:
                limits.append(
                    Limit(device=name, quantity=CHARGING_PHASES, max_value=1.0, reason=f"{reason}: 1 phase only")
                )
        held: list[str] = []
        for box, _ in boxes:
            share = shares[box.name]
            if share.current_a >= box.max_current_a - EPSILON:
                continue
            reason = share.reason if share.reason not in ("", "box maximum") else (notes[0] if notes else "")
            if not reason:
                reason = f"minimum current {minima[box.name]:.0f} A not available"
            limits.append(Limit(device=box.name, quantity=CHARGING_CURRENT_A, max_value=share.current_a, reason=reason))
            held.append(f"{box.name} {share.current_a:.1f} A ({reason})")
        return Decision(
            limits=tuple(limits),
            state=LIMITING if held else ACTIVE,
            reason="; ".join(held) if held else "within fuse and unbalance limits",
            memory={"seen": seen},
        )

    @staticmethod
    def _capacities(
        inputs: Inputs,
        config: PlantConfig,
        boxes: Sequence[tuple[WallboxConfig, WallboxState]],
        phase_sets: Mapping[str, tuple[int, ...]],
        lopsided_sets: Mapping[str, tuple[int, ...]],
    ) -> list[Capacity]:
        """Fuse per phase and the LPC for boxes loading ``phase_sets``; the unbalance per phase
        for boxes that may charge on ``lopsided_sets`` (fewer than three phases)."""
        capacities: list[Capacity] = []
        fuse = config.mains.fuse_a
        target = fuse - fuse_margin(fuse)
        grid_count = 1 if config.mains.phases == 1 else 3
        meter = inputs.state.meter if config.installation_position == GRID_POSITION else None
        for p in range(grid_count):
            on_p = {name: 1.0 for name, ps in phase_sets.items() if p in ps}
            if not on_p:
                continue
            other = 0.0
            if meter is not None:
                reading = meter.phases[p]
                signed = reading.current_a if reading.active_power_w >= 0 else -abs(reading.current_a)
                own = sum(max(0.0, st.phase_currents_a[p]) for _, st in boxes)
                other = max(0.0, signed - own)
            capacities.append(Capacity(target - other, on_p, f"fuse L{p + 1} {fuse:.0f} A"))
        if grid_count == 3:
            limit_a = config.mains.unbalance_limit_va / V
            reason = f"unbalance limit {wording.apparent(config.mains.unbalance_limit_va)}"
            for p in range(3):
                lopsided = {name: 1.0 for name, ps in lopsided_sets.items() if p in ps}
                if lopsided:
                    capacities.append(Capacity(limit_a, lopsided, reason))
        lpc = config.grid_limits.lpc_w
        grid = grid_power_w(inputs.state)
        if lpc is not None and grid is not None:
            budget = lpc - (grid - sum(draw_w(st) for _, st in boxes))
            weights = {n: len(ps) * V for n, ps in phase_sets.items()}
            capacities.append(Capacity(budget, weights, f"grid operator's purchase limit (LPC) {wording.power(lpc)}"))
        return capacities

    @staticmethod
    def _phases_of(
        box: WallboxConfig, st: WallboxState, config: PlantConfig, record: Any
    ) -> tuple[tuple[int, ...], Any]:
        """The grid phases a box loads: as measured while it charges (a 1-phase car at a 3-phase
        box loads one phase), remembered while the car stays and the box keeps its phases; before
        the car draws, the box's first phases as many as the car is known to use, else all."""
        phases = st.phases or fixed_phases(box, config)
        if config.mains.phases == 1:
            return (0,), None
        in_use = tuple(p for p, current in enumerate(st.phase_currents_a) if current > ACTIVE_CURRENT_A)
        if in_use:
            return in_use, {"phases": phases, "grid": list(in_use)}
        if isinstance(record, dict) and record.get("phases") == phases:
            return tuple(int(p) for p in record.get("grid", ())), record
        return grid_phases(box, phases, config)[: vehicle_phases(st)], None


# --- modes -------------------------------------------------------------------------------------


@dataclass
class _Solar:
    """One box in a solar mode during one cycle."""

    box: WallboxConfig
    st: WallboxState
    mode: str
    scheduled: bool
    memory: dict[str, Any]
    cap_a: float
    min_a: float
    held: bool = False
    phases: int = 3
    floor_w: float = 0.0
    need_w: float = 0.0
    budget_w: float = 0.0
    short: bool = False
    idle: bool = False
    power_w: float = 0.0
    vehicle: int = 3  # phases the car charges on when offered three
    phase_cap: int = 3  # phases the guards allow (1 when they leave room for one only)

    @property
    def battery(self) -> bool:
        """WB-7: the setting of the mode in force lets the car drain the house battery."""
        return uses_battery(self.box, self.mode)

    def used(self, phases: int) -> int:
        """Phases the car draws on with the box switched to ``phases``."""
        return min(phases, self.vehicle)

    def p_min(self, phases: int) -> float:
        return self.min_a * self.used(phases) * V

    def p_max(self, phases: int) -> float:
        return self.cap_a * self.used(phases) * V


class WallboxModes:
    """WB-5 modes (Lock, Power, Solar Pure, Solar Plus, Time Mode), WB-6 cloud hysteresis, WB-7
    battery use, WB-4 automatic phases, WB-10 minimum current, WB-14 sharing the surplus."""

    name = "wallbox_modes"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        if not config.wallboxes:
            return Decision(state=OFF, reason="no wallbox")
        now = inputs.now
        states = box_states(inputs.state)
        memory_before: Mapping[str, Any] = inputs.memory.get("boxes", {})
        memory: dict[str, dict[str, Any]] = {}
        requests: list[Setpoint] = []
        timers: list[Timer] = []
        summary: list[str] = []
        solar: list[_Solar] = []
        command = command_in_force(config, now)
        limit_a = command.current_limit_a if command is not None else None
        commanded: set[str] = set()
        modes: dict[str, str] = {}  # the mode in force of every box with a vehicle
        for box in config.wallboxes:
            st = states.get(box.name)
            m = dict(memory_before.get(box.name, {}))
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
                requests.append(_current(box.name, 0.0, "wallbox offline"))
                summary.append(f"{box.name}: offline")
                continue
            if not st.vehicle_connected:
                memory[box.name] = {}
                requests.append(_current(box.name, 0.0, "no vehicle"))
                summary.append(f"{box.name}: no vehicle")
                continue
            m["mode"] = mode
            modes[box.name] = mode
            if box.manual_pause:
                memory[box.name] = _stopped(m)
                requests.append(_current(box.name, 0.0, "paused by user"))
                summary.append(f"{box.name}: paused by user")
                continue
            if mode == LOCK:
                memory[box.name] = _stopped(m)
                requests.append(_current(box.name, 0.0, f"locked{by_schedule}"))
                summary.append(f"{box.name}: locked{by_schedule}")
                continue
            if limit_a is not None and limit_a < min_current(box) - EPSILON:
                memory[box.name] = _stopped(m)
                reason = f"current limit {limit_a:.1f} A is below the minimum current {min_current(box):.0f} A"
                requests.append(_current(box.name, 0.0, reason))
                summary.append(f"{box.name}: {reason}")
                continue
            if mode == POWER:
                reason = f"Power mode{by_schedule}: maximum current"
                wanted_a = box.max_current_a
                if limit_a is not None and limit_a < wanted_a:
                    wanted_a, reason = limit_a, f"Power mode: current limit {limit_a:.1f} A"
                phases = fixed_phases(box, config)
                if switchable(box, config):
                    phases, reason = self._power_phases(inputs, box, m, reason, timers)
                if not m.get("on"):
                    m.update(on=True, since=now.isoformat())
                m.update(phases=phases)
                for key in ("short_since", "paused_at", "enough_since"):
                    m.pop(key, None)
                memory[box.name] = m
                requests += [_current(box.name, wanted_a, reason), _phases(box.name, phases, reason)]
                summary.append(f"{box.name}: Power mode")
                continue
            bound = inputs.bound(box.name, CHARGING_CURRENT_A).max_value
            cap_a = box.max_current_a if bound is None else min(box.max_current_a, bound)
            if limit_a is not None:
                cap_a = min(cap_a, limit_a)
            phase_bound = inputs.bound(box.name, CHARGING_PHASES).max_value
            solar.append(
                _Solar(
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
            self._solar(inputs, config, solar, requests, timers, summary)
            for item in solar:
                memory[item.box.name] = item.memory
        battery_limit = self._battery_bound(inputs, config, modes, solar)
        if battery_limit is not None:
            summary.append(battery_limit.reason)
        if commanded:
            # Every request for a box under the command says so; a guard that cuts one later
            # replaces the reason with its own.
            requests = [
                dataclasses.replace(r, reason=f"{MODBUS_CLIENT}: {r.reason}")
                if r.device in commanded and r.reason not in _NOT_COMMANDED
                else r
                for r in requests
            ]
            summary = [f"{MODBUS_CLIENT}: {line}" if line.split(":")[0] in commanded else line for line in summary]
        charging = any(s.quantity == CHARGING_CURRENT_A and s.value > 0 for s in requests)
        return Decision(
            requests=tuple(requests),
            limits=(battery_limit,) if battery_limit is not None else (),
            memory={"boxes": memory},
            state=ACTIVE if charging else IDLE,
            reason="; ".join(summary),
            timers=tuple(timers),
        )

    @staticmethod
    def _battery_bound(
        inputs: Inputs, config: PlantConfig, modes: Mapping[str, str], solar: Sequence[_Solar]
    ) -> Limit | None:
        """WB-7 "do not use it": the managed battery covers no box whose mode in force keeps it
        out, except a solar box inside its cloud hysteresis (the battery bridges those minutes)."""
        device = managed_battery(inputs.requests)
        grid = grid_power_w(inputs.state)
        if device is None or grid is None:
            return None  # no battery the product moves this cycle: nothing to bound
        bridging = {item.box.name for item in solar if item.short and item.memory.get("on")}
        states = box_states(inputs.state)
        kept_out = [
            KeptOut(box.name, modes[box.name], draw_w(states.get(box.name)))
            for box in config.wallboxes
            if box.name in modes and box.name not in bridging and not uses_battery(box, modes[box.name])
        ]
        return discharge_bound(device, grid, battery_power_of(inputs.state, device), kept_out)

    @staticmethod
    def _power_phases(
        inputs: Inputs, box: WallboxConfig, m: dict[str, Any], reason: str, timers: list[Timer]
    ) -> tuple[int, str]:
        """WB-4 in Power mode with automatic phase usage: three phases, one while the guards
        leave room for one only, back to three at a 15-minute check the guards let pass."""
        now, name = inputs.now, box.name
        bound = inputs.bound(name, CHARGING_PHASES)
        phases = 1 if int(m.get("phases") or 3) == 1 else 3
        if bound.max_value is not None and bound.max_value < 3:
            # The 15 minutes to the next check run from the last cycle held to one phase.
            m["checked_at"] = now.isoformat()
            timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S))
            return 1, f"{reason}, {bound.max_reason}"
        if phases == 3:
            return 3, reason
        checked = _elapsed(m, "checked_at", now)
        if checked is None:
            m["checked_at"] = now.isoformat()
            checked = 0.0
        if checked >= PHASE_CHECK_S:
            m["checked_at"] = now.isoformat()
            return 3, f"{reason}, switching to 3 phases"
        left = PHASE_CHECK_S - checked
        timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=left))
        return 1, f"{reason} on 1 phase, 3-phase check in {clock(left)}"

    def _solar(
        self,
        inputs: Inputs,
        config: PlantConfig,
        boxes: list[_Solar],
        requests: list[Setpoint],
        timers: list[Timer],
        summary: list[str],
    ) -> None:
        now = inputs.now
        state = inputs.state
        grid = grid_power_w(state)
        names = {item.box.name for item in boxes}
        cars = sum(draw_w(st) for st in state.wallboxes if st.name in names)
        surplus = (-grid + battery_power_w(state) + cars) if grid is not None else 0.0
        # What the house lacks from PV comes out of the battery first; the rest may go to cars.
        battery_left = max(0.0, battery_headroom_w(state, config) + min(surplus, 0.0))
        budget = surplus
        # Charging boxes keep their place (the longest charging first), then the waiting ones.
        running = sorted((b for b in boxes if b.memory.get("on")), key=lambda b: str(b.memory.get("since", "")))
        waiting = [b for b in boxes if not b.memory.get("on")]
        for item in running + waiting:
            box, m = item.box, item.memory
            if item.cap_a < item.min_a - EPSILON:
                # A guard holds it below its minimum: the guard's reason is what people see.
                item.held = True
                item.phases = int(m.get("phases") or fixed_phases(box, config))
                continue
            own_budget = max(budget, 0.0) + battery_left if item.battery else budget
            item.budget_w = own_budget
            if m.get("on"):
                item.phases = int(m.get("phases") or fixed_phases(box, config))
                if item.phases == 3 and item.phase_cap == 1 and switchable(box, config):
                    # The guards leave room for one phase only: switch now (it pauses first).
                    item.phases = 1
                    m.update(phases=1, checked_at=now.isoformat())
                item.floor_w, item.need_w = self._floor(item, config, item.phases)
                # Solar Plus with a 0 % minimum solar share needs no sun: never short, never
                # paused for lack of it; the grid covers the start power (issue 13.9).
                item.short = item.need_w > EPSILON and own_budget < item.need_w - EPSILON
                item.idle = self._idle(item, now)
                if item.idle:
                    continue  # it takes nothing now: its floor stays with the others
            else:
                phases = min(self._start_phases(item, config, own_budget), item.phase_cap)
                floor_w, need_w = self._floor(item, config, phases)
                item.phases = int(m.get("phases") or fixed_phases(box, config))
                if grid is None:
                    m.pop("enough_since", None)
                    continue
                item.need_w = need_w
                if not self._may_start(item, now, own_budget, need_w, phases, timers):
                    continue
                m.update(on=True, since=now.isoformat(), phases=phases, checked_at=now.isoformat())
                for key in ("enough_since", "paused_at", "short_since"):
                    m.pop(key, None)
                item.phases, item.floor_w, item.need_w = phases, floor_w, need_w
            # The floor comes out of the surplus first, then out of the battery (if allowed); the
            # grid covers the rest, which leaves the surplus below zero for the boxes after it.
            from_surplus = min(item.floor_w, max(budget, 0.0))
            rest = item.floor_w - from_surplus
            if item.battery:
                from_battery = min(rest, battery_left)
                battery_left -= from_battery
                rest -= from_battery
            budget -= from_surplus + rest
        on = [b for b in boxes if b.memory.get("on") and not b.held]
        # A box whose car takes nothing is offered its minimum only, so the others get the rest.
        powers = share_power(
            {b.box.name: b.p_min(b.phases) if b.idle else b.floor_w for b in on},
            {b.box.name: b.p_min(b.phases) if b.idle else b.p_max(b.phases) for b in on},
            sum(b.p_min(b.phases) if b.idle else b.floor_w for b in on) + max(budget, 0.0),
        )
        left_w = max(budget, 0.0) - sum(powers[b.box.name] - b.floor_w for b in on if not b.idle)
        users = [b for b in on if b.battery]
        if users and battery_left > 0:
            more = share_power(
                {b.box.name: powers[b.box.name] for b in users},
                {b.box.name: b.p_max(b.phases) for b in users},
                sum(powers[b.box.name] for b in users) + battery_left,
            )
            powers.update(more)
        for item in boxes:
            item.power_w = powers.get(item.box.name, 0.0)
            self._request(item, config, now, left_w, requests, timers, summary)

    @staticmethod
    def _idle(item: _Solar, now: dt.datetime) -> bool:
        """Released for a while, not switching phases, and the car takes nothing (it is full, or
        it waits for its own timer)."""
        since = _elapsed(item.memory, "since", now)
        switching = item.st.phases is not None and item.st.phases != item.phases
        return (
            since is not None
            and since >= IDLE_AFTER_S
            and not switching
            and item.st.state != WALLBOX_CHARGING
            and draw_w(item.st) < ACTIVE_CURRENT_A * V
        )

    @staticmethod
    def _floor(item: _Solar, config: PlantConfig, phases: int) -> tuple[float, float]:
        """(power the box draws at least while charging, surplus it needs to keep charging)."""
        if item.mode == SOLAR_PLUS:
            start_w = WallboxModes._start_power(item, config)
            share = max(0.0, min(100.0, item.box.solar_plus.min_solar_share_pct)) / 100.0
            floor_w = max(item.p_min(phases), min(start_w, item.p_max(phases)))
            return floor_w, share * start_w
        return item.p_min(phases), item.p_min(phases)

    @staticmethod
    def _start_power(item: _Solar, config: PlantConfig) -> float:
        """Solar Plus start power: Min/50 %/75 %/Max of the vehicle's power range at this box."""
        low_phases = 1 if switchable(item.box, config) else fixed_phases(item.box, config)
        high_phases = 3 if switchable(item.box, config) else fixed_phases(item.box, config)
        low, high = item.p_min(low_phases), max(item.p_min(low_phases), item.p_max(high_phases))
        return low + START_FRACTIONS.get(item.box.solar_plus.start_power, 0.0) * (high - low)

    def _start_phases(self, item: _Solar, config: PlantConfig, budget_w: float) -> int:
        """WB-4 automatic: start 3-phase if the surplus suffices for it, else 1-phase."""
        if not switchable(item.box, config):
            return fixed_phases(item.box, config)
        if item.vehicle < 3:
            # The car charges on its own phases either way: no switch for it.
            return item.st.phases if item.st.phases in (1, 3) else 1
        if item.mode == SOLAR_PLUS:
            start_w = self._start_power(item, config)
            if start_w > item.p_max(1) + EPSILON or start_w >= item.p_min(3) - EPSILON:
                return 3
        return 3 if budget_w >= item.p_min(3) - EPSILON else 1

    @staticmethod
    def _may_start(
        item: _Solar, now: dt.datetime, budget_w: float, need_w: float, phases: int, timers: list[Timer]
    ) -> bool:
        m, name = item.memory, item.box.name
        share_zero = item.mode == SOLAR_PLUS and item.box.solar_plus.min_solar_share_pct <= 0
        enough_now = budget_w >= need_w - EPSILON or share_zero
        since_pause = _elapsed(m, "paused_at", now)
        if since_pause is not None and since_pause < RESUME_S:
            left = RESUME_S - since_pause
            timers.append(Timer(name=timer_name(name, "resume"), seconds_left=left))
            # The start delay runs during the wait: back sun resumes right when the wait ends.
            if not enough_now:
                m.pop("enough_since", None)
            elif "enough_since" not in m:
                m["enough_since"] = now.isoformat()
            m["why"] = f"cloud hysteresis: paused, resume possible in {clock(left)}"
            return False
        if not enough_now:
            m.pop("enough_since", None)
            on = item.used(phases)
            m["why"] = (
                f"waiting for surplus: needs {kw(need_w)} on {on} phase{'s' if on > 1 else ''}, has {kw(max(budget_w, 0.0))}"
            )
            return False
        enough = _elapsed(m, "enough_since", now)
        if enough is None:
            m["enough_since"] = now.isoformat()
            enough = 0.0
        if enough < START_DELAY_S:
            left = START_DELAY_S - enough
            timers.append(Timer(name=timer_name(name, "start"), seconds_left=left))
            m["why"] = f"surplus {kw(max(budget_w, 0.0))}: starting in {clock(left)}"
            return False
        return True

    def _request(
        self,
        item: _Solar,
        config: PlantConfig,
        now: dt.datetime,
        left_w: float,
        requests: list[Setpoint],
        timers: list[Timer],
        summary: list[str],
    ) -> None:
        box, m, name = item.box, item.memory, item.box.name
        label = ("Solar Plus" if item.mode == SOLAR_PLUS else "Solar Pure") + (" (Time Mode)" if item.scheduled else "")
        phases = item.phases
        if item.held:
            # The guard's bound (0) is written with its reason; keep intent and timers as they are.
            requests += [_current(name, item.min_a, label), _phases(name, phases, label)]
            summary.append(f"{name}: held by a limit")
            return
        if not m.get("on"):
            why = str(m.pop("why", f"{label}: waiting for surplus"))
            requests += [_current(name, 0.0, f"{label}: {why}"), _phases(name, phases, label)]
            summary.append(f"{name}: {why}")
            return
        m.pop("why", None)
        auto = switchable(box, config)
        current = floor_step(item.power_w / (item.used(phases) * V))
        current = max(item.min_a, min(item.cap_a, current))
        # WB-7 "use it": the budget includes what the house battery may give.
        available = "surplus and house battery" if item.battery else "surplus"
        reason = f"{label}: {available} {kw(max(item.budget_w, 0.0))}"
        if item.mode == SOLAR_PLUS and item.power_w <= item.floor_w + EPSILON:
            reason = f"{label}: start power {kw(item.floor_w)}, {available} {kw(max(item.budget_w, 0.0))}"
        if item.short:
            since = _elapsed(m, "short_since", now)
            if since is None:
                m["short_since"] = now.isoformat()
                since = 0.0
            left = HYSTERESIS_S - since
            one_phase_ok = auto and phases == 3 and item.budget_w >= item.p_min(1) - EPSILON
            if left > 0:
                current = item.min_a
                if one_phase_ok:
                    reason = f"{label}: not enough surplus for 3 phases, 1 phase in {clock(left)}"
                    timers.append(Timer(name=timer_name(name, "phase switch"), seconds_left=left))
                else:
                    reason = f"cloud hysteresis: minimum current, pause in {clock(left)}"
                    timers.append(Timer(name=timer_name(name, "cloud hysteresis"), seconds_left=left))
            elif one_phase_ok:
                phases = 1
                m.update(phases=1, checked_at=now.isoformat())
                m.pop("short_since", None)
                current = max(item.min_a, min(item.cap_a, floor_step(max(item.budget_w, 0.0) / V)))
                reason = f"{label}: switching to 1 phase, not enough surplus for 3"
            else:
                for key in ("on", "short_since", "since"):
                    m.pop(key, None)
                m["paused_at"] = now.isoformat()
                timers.append(Timer(name=timer_name(name, "resume"), seconds_left=RESUME_S))
                reason = f"cloud hysteresis: paused for lack of surplus, resume possible in {clock(RESUME_S)}"
                requests += [_current(name, 0.0, reason), _phases(name, phases, label)]
                summary.append(f"{name}: {reason}")
                return
        else:
            m.pop("short_since", None)
            if auto and phases == 1 and item.vehicle == 3 and item.phase_cap == 3:
                checked = _elapsed(m, "checked_at", now)
                if checked is None:
                    m["checked_at"] = now.isoformat()
                    checked = 0.0
                if checked >= PHASE_CHECK_S:
                    m["checked_at"] = now.isoformat()
                    available_a = (item.power_w + max(left_w, 0.0)) / (3 * V)
                    if available_a >= PHASE_UP_HEADROOM * item.min_a and item.cap_a >= item.min_a:
                        phases = 3
                        m["phases"] = 3
                        current = max(item.min_a, min(item.cap_a, floor_step(available_a)))
                        reason = f"{label}: switching to 3 phases, surplus {kw(item.budget_w)}"
                    else:
                        timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S))
                else:
                    timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S - checked))
        if item.st.phases is not None and item.st.phases != phases and item.st.state != WALLBOX_CHARGING:
            reason = f"{reason} (switching to {phases} phase{'s' if phases > 1 else ''})"
        requests += [_current(name, current, reason), _phases(name, phases, reason)]
        summary.append(f"{name}: {current:.1f} A on {phases} phase{'s' if phases > 1 else ''} ({reason})")


def _stopped(m: dict[str, Any]) -> dict[str, Any]:
    """Memory of a box a person stopped (Lock, pause): no hysteresis, no resume wait."""
    for key in ("on", "since", "short_since", "paused_at", "enough_since", "why"):
        m.pop(key, None)
    return m


# --- evcc's pv mode as a reference ------------------------------------------------------------

EVCC_ENABLE_DELAY_S = 60.0
EVCC_DISABLE_DELAY_S = 180.0
EVCC_THRESHOLD_W = 0.0


class EvccPvReference:
    """evcc's documented "pv" mode, for comparison in the replay (not a product feature).

    Per box: ``target = effective current + (-site power) / (230 V * phases)`` with evcc's
    ``site power = grid - battery charge`` (our :data:`surplus` without the cars' draw); fixed
    phases as configured (auto counts as three), minimum current 6 A (the box's setting), enable
    once the target reaches the minimum for 1 min, disable once it stays below for 3 min (both
    thresholds 0 W). Boxes are served in order, each seeing what the previous ones took, as
    evcc's round-robin over load points does. A person's pause and no vehicle stop charging;
    the configured mode is ignored (evcc's pv mode stands in for it).
    """

    name = "evcc_pv_reference"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        if not config.wallboxes:
            return Decision(state=OFF, reason="no wallbox")
        now = inputs.now
        states = box_states(inputs.state)
        before: Mapping[str, Any] = inputs.memory.get("boxes", {})
        memory: dict[str, dict[str, Any]] = {}
        requests: list[Setpoint] = []
        timers: list[Timer] = []
        grid = grid_power_w(inputs.state)
        site_w = None if grid is None else grid - battery_power_w(inputs.state)
        for box in config.wallboxes:
            st = states.get(box.name)
            m = dict(before.get(box.name, {}))
            phases = fixed_phases(box, config)
            if st is None or not st.status.online or not st.vehicle_connected or box.manual_pause:
                why = "no vehicle" if st is not None and not st.vehicle_connected else "paused by user"
                memory[box.name] = {}
                requests.append(_current(box.name, 0.0, f"evcc pv: {why}"))
                continue
            min_a = min_current(box)
            effective = max(0.0, *st.phase_currents_a)
            if site_w is None:
                memory[box.name] = m
                requests += [_current(box.name, min_a if m.get("on") else 0.0, "evcc pv: no measurement")]
                continue
            target = effective + (-site_w) / (V * phases)
            value = 0.0
            if m.get("on"):
                # Below the minimum the projected site power (at minimum current) is above the
                # disable threshold (0 W): the disable timer runs.
                if target < min_a:
                    started = _elapsed(m, "disable_since", now)
                    if started is None:
                        m["disable_since"] = now.isoformat()
                        started = 0.0
                    if started >= EVCC_DISABLE_DELAY_S:
                        m = {}
                        reason = "evcc pv: disabled"
                    else:
                        value = min_a
                        left = EVCC_DISABLE_DELAY_S - started
                        timers.append(Timer(name=timer_name(box.name, "evcc disable"), seconds_left=left))
                        reason = f"evcc pv: minimum current, disable in {clock(left)}"
                else:
                    m.pop("disable_since", None)
                    value = min(box.max_current_a, max(min_a, floor_step(target)))
                    reason = "evcc pv: surplus"
            else:
                if target >= min_a and -site_w >= EVCC_THRESHOLD_W:
                    started = _elapsed(m, "enable_since", now)
                    if started is None:
                        m["enable_since"] = now.isoformat()
                        started = 0.0
                    if started >= EVCC_ENABLE_DELAY_S:
                        m = {"on": True}
                        value = min_a
                        reason = "evcc pv: enabled"
                    else:
                        left = EVCC_ENABLE_DELAY_S - started
                        timers.append(Timer(name=timer_name(box.name, "evcc enable"), seconds_left=left))
                        reason = f"evcc pv: enable in {clock(left)}"
                else:
                    m.pop("enable_since", None)
                    reason = "evcc pv: waiting for surplus"
            site_w += (value - effective) * V * phases
            memory[box.name] = m
            requests += [_current(box.name, value, reason), _phases(box.name, phases, reason)]
        charging = any(s.quantity == CHARGING_CURRENT_A and s.value > 0 for s in requests)
        return Decision(
            requests=tuple(requests),
            memory={"boxes": memory},
            state=ACTIVE if charging else IDLE,
            reason="evcc pv mode (reference)",
            timers=tuple(timers),
        )


# The product's wallbox controllers, highest priority first. The lead places them after the
# grid-operator limits and before/after the inverter controllers as DESIGN.md orders them.
WALLBOX_CONTROLLERS: tuple[Controller, ...] = (WallboxGuards(), WallboxModes())
# The same with evcc's pv mode in place of the modes, for the replay's comparison.
REFERENCE_CONTROLLERS: tuple[Controller, ...] = (WallboxGuards(), EvccPvReference())

__all__ = [
    "REFERENCE_CONTROLLERS",
    "WALLBOX_CONTROLLERS",
    "EvccPvReference",
    "WallboxGuards",
    "WallboxModes",
    "command_in_force",
    "mode_in_force",
    "timers_for",
]
