"""The solar modes (Solar Pure, Solar Plus): the surplus shared among the boxes, WB-6 cloud
hysteresis, WB-4 automatic phases, WB-10 minimum current, WB-14 sharing. Called by
:class:`~wallbox.modes.WallboxModes` for its boxes in a solar mode.

Surplus (what the solar modes may give to cars)
-----------------------------------------------
``surplus_w = -grid_w + battery_w + sum(power_w of the boxes charging in a solar mode)``

- ``-grid_w``: what is fed in now (negative when buying).
- ``+ battery_w``: a charging house battery gives way to the car (WB-7: PV surplus goes to the
  vehicle before the house battery); a discharging one *lowers* the surplus, so a car never
  lives on the battery unless its box says so.
- ``+ cars``: what the solar-mode cars draw now is surplus they already use. Cars charging in
  Power mode (or held by Lock/pause) are not added: their draw is load like the house.

House battery (WB-7 "use it")
-----------------------------
Where the mode in force uses the battery, a box may in addition draw what the battery can still
discharge (its discharge limit, else its maximum) while the battery is above its minimum SoC;
then a solar mode never stops for lack of PV until the battery reaches its minimum.

Fairness (WB-14)
----------------
Surplus gives every charging box its floor first, then equal watts on top.

The cloud hysteresis inside the manual's timers (issue 19 part 4)
-----------------------------------------------------------------
Every box remembers the stretches of the last hour in which its surplus stayed below what it
needs (charging or waiting). With the look-ahead (the default), a Solar Pure box that keeps the
house battery out pauses after 3 minutes when the grid pays 400 W or more of its minimum, sooner
in a cloud bank, and starts again after the 1-minute start delay with no 8-minute wait
(:mod:`wallbox.clouds`). The manual's timers stay the outer bound: never later than 5 minutes,
never a wait longer than 8; without the look-ahead (replay policy ``manual``) and in Solar Plus
they hold as they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from energy.config import SOLAR_PLUS, SOLAR_PURE, PlantConfig, WallboxConfig
from energy.control import Inputs
from energy.state import WALLBOX_CHARGING, Setpoint, Timer, WallboxState
from wallbox.battery import uses_battery
from wallbox.clouds import (
    GRID_PAYS_W,
    PAUSE_AFTER_S,
    Spell,
    grid_pays_w,
    pause_early,
    pause_now,
    recent,
    remember,
    resume_wait_s,
)
from wallbox.common import (
    ACTIVE_CURRENT_A,
    EPSILON,
    HYSTERESIS_S,
    IDLE_AFTER_S,
    PHASE_CHECK_S,
    PHASE_UP_HEADROOM,
    START_DELAY_S,
    START_FRACTIONS,
    V,
    battery_headroom_w,
    battery_power_w,
    clock,
    current_request,
    draw_w,
    elapsed_s,
    fixed_phases,
    grid_power_w,
    kw,
    phases_request,
    switchable,
    timer_name,
)
from wallbox.memory import BoxMemory
from wallbox.policy import floor_step, share_power


@dataclass
class SolarBox:
    """One box in a solar mode during one cycle."""

    box: WallboxConfig
    st: WallboxState
    mode: str
    scheduled: bool
    memory: BoxMemory  # replaced as the cycle goes; what the box remembers for the next
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
    why: str | None = None  # why a box that may not start waits, this cycle
    lacking: bool | None = None  # its surplus is short of what it needs this cycle (None: unknown)

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


def distribute_surplus(
    inputs: Inputs,
    config: PlantConfig,
    boxes: list[SolarBox],
    requests: list[Setpoint],
    timers: list[Timer],
    summary: list[str],
    *,
    look_ahead: bool = True,
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
    running = sorted((b for b in boxes if b.memory.on), key=_released)
    waiting = [b for b in boxes if not b.memory.on]
    for item in running + waiting:
        box, m = item.box, item.memory
        if item.cap_a < item.min_a - EPSILON:
            # A guard holds it below its minimum: the guard's reason is what people see.
            item.held = True
            item.phases = m.phases or fixed_phases(box, config)
            continue
        own_budget = max(budget, 0.0) + battery_left if item.battery else budget
        item.budget_w = own_budget
        if m.on:
            item.phases = m.phases or fixed_phases(box, config)
            if item.phases == 3 and item.phase_cap == 1 and switchable(box, config):
                # The guards leave room for one phase only: switch now (it pauses first).
                item.phases = 1
                item.memory = replace(m, phases=1, checked_at=now)
            item.floor_w, item.need_w = _floor(item, config, item.phases)
            # Solar Plus with a 0 % minimum solar share needs no sun: never short, never
            # paused for lack of it; the grid covers the start power (issue 13.9).
            item.short = item.need_w > EPSILON and own_budget < item.need_w - EPSILON
            item.lacking = item.short
            item.idle = _idle(item, now)
            if item.idle:
                continue  # it takes nothing now: its floor stays with the others
        else:
            phases = min(_start_phases(item, config, own_budget), item.phase_cap)
            floor_w, need_w = _floor(item, config, phases)
            item.phases = m.phases or fixed_phases(box, config)
            if grid is None:
                item.memory = replace(m, enough_since=None)
                continue
            item.need_w = need_w
            if not _may_start(item, now, own_budget, need_w, phases, timers, look_ahead=look_ahead):
                continue
            item.memory = replace(
                item.memory,
                on=True,
                since=now,
                phases=phases,
                checked_at=now,
                enough_since=None,
                paused_at=None,
                short_since=None,
            )
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
    on = [b for b in boxes if b.memory.on and not b.held]
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
    # Without the look-ahead no battery and no cloud bank count: the manual's timers alone.
    bridge_w = _bridge_w(inputs, config) if look_ahead else None
    for item in boxes:
        item.power_w = powers.get(item.box.name, 0.0)
        _request(item, config, now, left_w, bridge_w, requests, timers, summary)
        item.memory = _rhythm(item.memory, now, item.lacking)


def _bridge_w(inputs: Inputs, config: PlantConfig) -> float:
    """What a house battery the product manages may discharge to bridge a cloud hysteresis (the
    boxes that keep it out are bridged by it inside their hysteresis, WB-7): its maximum while it
    is above its minimum SoC, else 0."""
    if not config.battery_management.enabled or battery_headroom_w(inputs.state, config) <= 0.0:
        return 0.0
    battery = inputs.state.battery
    return max(0.0, battery.max_discharge_w) if battery is not None else 0.0


def _rhythm(m: BoxMemory, now: dt.datetime, lacking: bool | None) -> BoxMemory:
    """The stretch short of surplus goes on, begins, or ends and joins the recent ones."""
    if lacking is None:
        return m
    if lacking:
        return m if m.lacking_since is not None else replace(m, lacking_since=now)
    if m.lacking_since is None:
        return m
    spell = Spell(ended_at=now, duration_s=(now - m.lacking_since).total_seconds())
    return replace(m, lacking_since=None, spells=remember(m.spells, spell))


def _released(item: SolarBox) -> tuple[bool, dt.datetime | None]:
    """Sort key of the charging boxes: the longest charging first (one without a moment first)."""
    since = item.memory.since
    return since is not None, since


def _idle(item: SolarBox, now: dt.datetime) -> bool:
    """Released for a while, not switching phases, and the car takes nothing (it is full, or
    it waits for its own timer)."""
    since = elapsed_s(item.memory.since, now)
    switching = item.st.phases is not None and item.st.phases != item.phases
    return (
        since is not None
        and since >= IDLE_AFTER_S
        and not switching
        and item.st.state != WALLBOX_CHARGING
        and draw_w(item.st) < ACTIVE_CURRENT_A * V
    )


def _floor(item: SolarBox, config: PlantConfig, phases: int) -> tuple[float, float]:
    """(power the box draws at least while charging, surplus it needs to keep charging)."""
    if item.mode == SOLAR_PLUS:
        start_w = _start_power(item, config)
        share = max(0.0, min(100.0, item.box.solar_plus.min_solar_share_pct)) / 100.0
        floor_w = max(item.p_min(phases), min(start_w, item.p_max(phases)))
        return floor_w, share * start_w
    return item.p_min(phases), item.p_min(phases)


def _start_power(item: SolarBox, config: PlantConfig) -> float:
    """Solar Plus start power: Min/50 %/75 %/Max of the vehicle's power range at this box."""
    low_phases = 1 if switchable(item.box, config) else fixed_phases(item.box, config)
    high_phases = 3 if switchable(item.box, config) else fixed_phases(item.box, config)
    low, high = item.p_min(low_phases), max(item.p_min(low_phases), item.p_max(high_phases))
    return low + START_FRACTIONS.get(item.box.solar_plus.start_power, 0.0) * (high - low)


def _start_phases(item: SolarBox, config: PlantConfig, budget_w: float) -> int:
    """WB-4 automatic: start 3-phase if the surplus suffices for it, else 1-phase."""
    if not switchable(item.box, config):
        return fixed_phases(item.box, config)
    if item.vehicle < 3:
        # The car charges on its own phases either way: no switch for it.
        return item.st.phases if item.st.phases in (1, 3) else 1
    if item.mode == SOLAR_PLUS:
        start_w = _start_power(item, config)
        if start_w > item.p_max(1) + EPSILON or start_w >= item.p_min(3) - EPSILON:
            return 3
    return 3 if budget_w >= item.p_min(3) - EPSILON else 1


def _may_start(
    item: SolarBox,
    now: dt.datetime,
    budget_w: float,
    need_w: float,
    phases: int,
    timers: list[Timer],
    *,
    look_ahead: bool = True,
) -> bool:
    m, name = item.memory, item.box.name
    share_zero = item.mode == SOLAR_PLUS and item.box.solar_plus.min_solar_share_pct <= 0
    enough_now = budget_w >= need_w - EPSILON or share_zero
    item.lacking = not enough_now
    since_pause = elapsed_s(m.paused_at, now)
    # Solar Pure with the look-ahead resumes once the start delay proves the sun back (issue
    # 19.4); Solar Plus and the manual's timers alone wait the 8 minutes.
    wait_s = resume_wait_s(look_ahead and item.mode == SOLAR_PURE)
    if since_pause is not None and since_pause < wait_s:
        left = wait_s - since_pause
        timers.append(Timer(name=timer_name(name, "resume"), seconds_left=left))
        # The start delay runs during the wait: back sun resumes right when the wait ends.
        if not enough_now:
            item.memory = replace(m, enough_since=None)
        elif m.enough_since is None:
            item.memory = replace(m, enough_since=now)
        item.why = f"cloud hysteresis: paused, resume possible in {clock(left)}"
        return False
    if not enough_now:
        item.memory = replace(m, enough_since=None)
        on = item.used(phases)
        item.why = f"waiting for surplus: needs {kw(need_w)} on {on} phase{'s' if on > 1 else ''}, has {kw(max(budget_w, 0.0))}"
        return False
    enough = elapsed_s(m.enough_since, now)
    if enough is None:
        item.memory = replace(m, enough_since=now)
        enough = 0.0
    if enough < START_DELAY_S:
        left = START_DELAY_S - enough
        timers.append(Timer(name=timer_name(name, "start"), seconds_left=left))
        item.why = f"surplus {kw(max(budget_w, 0.0))}: starting in {clock(left)}"
        return False
    return True


def _request(
    item: SolarBox,
    config: PlantConfig,
    now: dt.datetime,
    left_w: float,
    bridge_w: float | None,
    requests: list[Setpoint],
    timers: list[Timer],
    summary: list[str],
) -> None:
    box, m, name = item.box, item.memory, item.box.name
    label = ("Solar Plus" if item.mode == SOLAR_PLUS else "Solar Pure") + (" (Time Mode)" if item.scheduled else "")
    phases = item.phases
    if item.held:
        # The guard's bound (0) is written with its reason; keep intent and timers as they are.
        requests += [current_request(name, item.min_a, label), phases_request(name, phases, label)]
        summary.append(f"{name}: held by a limit")
        return
    why, item.why = item.why, None
    if not m.on:
        why = why if why is not None else f"{label}: waiting for surplus"
        requests += [current_request(name, 0.0, f"{label}: {why}"), phases_request(name, phases, label)]
        summary.append(f"{name}: {why}")
        return
    auto = switchable(box, config)
    current = floor_step(item.power_w / (item.used(phases) * V))
    current = max(item.min_a, min(item.cap_a, current))
    # WB-7 "use it": the budget includes what the house battery may give.
    available = "surplus and house battery" if item.battery else "surplus"
    reason = f"{label}: {available} {kw(max(item.budget_w, 0.0))}"
    if item.mode == SOLAR_PLUS and item.power_w <= item.floor_w + EPSILON:
        reason = f"{label}: start power {kw(item.floor_w)}, {available} {kw(max(item.budget_w, 0.0))}"
    if item.short:
        since = elapsed_s(m.short_since, now)
        if since is None:
            m = item.memory = replace(m, short_since=now)
            since = 0.0
        left = HYSTERESIS_S - since
        one_phase_ok = auto and phases == 3 and item.budget_w >= item.p_min(1) - EPSILON
        durations = recent(m.spells, now)
        p_min = item.p_min(phases)
        if (
            left > 0
            and bridge_w is not None
            and not one_phase_ok
            and item.mode == SOLAR_PURE
            and not item.battery
            and pause_now(since, item.budget_w, p_min, bridge_w, durations)
        ):
            item.memory = replace(m, on=False, short_since=None, since=None, paused_at=now)
            back = "resume when the surplus is back for 1:00"
            if pause_early(since, item.budget_w, p_min, bridge_w, durations):
                reason = (
                    f"cloud hysteresis: paused after {clock(since)}, a cloud bank (the {len(durations)} clouds of the "
                    f"last hour lasted at most {clock(max(durations))}), {back}"
                )
            else:
                paid = grid_pays_w(item.budget_w, p_min, bridge_w)
                reason = f"cloud hysteresis: paused after {clock(since)}, the grid paid {kw(paid)} of the car's minimum, {back}"
            requests += [current_request(name, 0.0, reason), phases_request(name, phases, label)]
            summary.append(f"{name}: {reason}")
            return
        if left > 0:
            current = item.min_a
            if (
                bridge_w is not None
                and not one_phase_ok
                and item.mode == SOLAR_PURE
                and not item.battery
                and grid_pays_w(item.budget_w, p_min, bridge_w) >= GRID_PAYS_W
            ):
                # The grid pays for this dip: the look-ahead pauses it after 3 minutes.
                left = max(0.0, min(left, PAUSE_AFTER_S - since))
            if one_phase_ok:
                reason = f"{label}: not enough surplus for 3 phases, 1 phase in {clock(left)}"
                timers.append(Timer(name=timer_name(name, "phase switch"), seconds_left=left))
            else:
                reason = f"cloud hysteresis: minimum current, pause in {clock(left)}"
                timers.append(Timer(name=timer_name(name, "cloud hysteresis"), seconds_left=left))
        elif one_phase_ok:
            phases = 1
            item.memory = replace(m, phases=1, checked_at=now, short_since=None)
            current = max(item.min_a, min(item.cap_a, floor_step(max(item.budget_w, 0.0) / V)))
            reason = f"{label}: switching to 1 phase, not enough surplus for 3"
        else:
            item.memory = replace(m, on=False, short_since=None, since=None, paused_at=now)
            wait_s = resume_wait_s(bridge_w is not None and item.mode == SOLAR_PURE)
            if wait_s > 0:
                timers.append(Timer(name=timer_name(name, "resume"), seconds_left=wait_s))
                reason = f"cloud hysteresis: paused for lack of surplus, resume possible in {clock(wait_s)}"
            else:
                reason = "cloud hysteresis: paused for lack of surplus, resume when the surplus is back for 1:00"
            requests += [current_request(name, 0.0, reason), phases_request(name, phases, label)]
            summary.append(f"{name}: {reason}")
            return
    else:
        m = item.memory = replace(m, short_since=None)
        if auto and phases == 1 and item.vehicle == 3 and item.phase_cap == 3:
            checked = elapsed_s(m.checked_at, now)
            if checked is None:
                m = item.memory = replace(m, checked_at=now)
                checked = 0.0
            if checked >= PHASE_CHECK_S:
                m = item.memory = replace(m, checked_at=now)
                available_a = (item.power_w + max(left_w, 0.0)) / (3 * V)
                if available_a >= PHASE_UP_HEADROOM * item.min_a and item.cap_a >= item.min_a:
                    phases = 3
                    item.memory = replace(m, phases=3)
                    current = max(item.min_a, min(item.cap_a, floor_step(available_a)))
                    reason = f"{label}: switching to 3 phases, surplus {kw(item.budget_w)}"
                else:
                    timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S))
            else:
                timers.append(Timer(name=timer_name(name, "3-phase check"), seconds_left=PHASE_CHECK_S - checked))
    if item.st.phases is not None and item.st.phases != phases and item.st.state != WALLBOX_CHARGING:
        reason = f"{reason} (switching to {phases} phase{'s' if phases > 1 else ''})"
    requests += [current_request(name, current, reason), phases_request(name, phases, reason)]
    summary.append(f"{name}: {current:.1f} A on {phases} phase{'s' if phases > 1 else ''} ({reason})")
