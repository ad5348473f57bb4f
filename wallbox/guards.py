"""``WallboxGuards``: the grid operator's LPC, the main fuse (WB-8) and the unbalanced load
(WB-9) as bounds on each box's charging current (``Limit.max_value`` on CHARGING_CURRENT_A). A
bound is always 0 or at least the box's minimum current, never in between.

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
again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from energy import wording
from energy.config import CHARGING_CURRENT_A, CHARGING_PHASES, GRID_POSITION, LOCK, PlantConfig, WallboxConfig
from energy.control import ACTIVE, IDLE, LIMITING, OFF, Decision, Inputs
from energy.state import WALLBOX_CHARGING, Limit, WallboxState
from wallbox.common import (
    ACTIVE_CURRENT_A,
    EPSILON,
    PHASE_UP_HEADROOM,
    V,
    box_states,
    command_in_force,
    draw_w,
    fixed_phases,
    fuse_margin,
    grid_phases,
    grid_power_w,
    min_current,
    mode_in_force,
    switchable,
    vehicle_phases,
)
from wallbox.memory import GuardsMemory, PhaseRecord
from wallbox.policy import Capacity, Share, fair_currents


class WallboxGuards:
    """Grid-operator LPC, main fuse per phase (WB-8) and unbalanced load (WB-9) as bounds on
    every contending box's charging current, shared fairly and acting in the same cycle."""

    name = "wallbox_guards"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        if not config.wallboxes:
            return Decision(state=OFF, reason="no wallbox")
        states = box_states(inputs.state)
        seen_before = inputs.recall(GuardsMemory, GuardsMemory()).seen
        seen: dict[str, PhaseRecord] = {}
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
            return Decision(limits=tuple(phase_limits), state=IDLE, reason="no car to charge", memory=GuardsMemory())

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
            memory=GuardsMemory(seen),
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
        box: WallboxConfig, st: WallboxState, config: PlantConfig, record: PhaseRecord | None
    ) -> tuple[tuple[int, ...], PhaseRecord | None]:
        """The grid phases a box loads: as measured while it charges (a 1-phase car at a 3-phase
        box loads one phase), remembered while the car stays and the box keeps its phases; before
        the car draws, the box's first phases as many as the car is known to use, else all."""
        phases = st.phases or fixed_phases(box, config)
        if config.mains.phases == 1:
            return (0,), None
        in_use = tuple(p for p, current in enumerate(st.phase_currents_a) if current > ACTIVE_CURRENT_A)
        if in_use:
            return in_use, PhaseRecord(phases, in_use)
        if record is not None and record.phases == phases:
            return record.grid, record
        return grid_phases(box, phases, config)[: vehicle_phases(st)], None
