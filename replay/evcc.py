"""evcc's documented "pv" mode as a reference controller, usable in place of
:class:`~wallbox.modes.WallboxModes` so that the replay can compare both on the same scenario
(``manage.py replay --policy evcc``). No product feature: nothing but the replay tooling uses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from energy.config import CHARGING_CURRENT_A, PlantConfig
from energy.control import ACTIVE, IDLE, OFF, Controller, Decision, Inputs
from energy.state import Setpoint, Timer
from wallbox.common import (
    V,
    battery_power_w,
    box_states,
    clock,
    current_request,
    elapsed_s,
    fixed_phases,
    grid_power_w,
    min_current,
    phases_request,
    timer_name,
)
from wallbox.guards import WallboxGuards
from wallbox.policy import floor_step

EVCC_ENABLE_DELAY_S = 60.0
EVCC_DISABLE_DELAY_S = 180.0
EVCC_THRESHOLD_W = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EvccBoxMemory:
    """One box under the reference: enabled, and since when its enable or disable timer runs."""

    on: bool = False
    enable_since: dt.datetime | None = None
    disable_since: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class EvccMemory:
    """:class:`EvccPvReference`: every configured box by name."""

    boxes: Mapping[str, EvccBoxMemory] = field(default_factory=dict)


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
        before = inputs.recall(EvccMemory, EvccMemory()).boxes
        memory: dict[str, EvccBoxMemory] = {}
        requests: list[Setpoint] = []
        timers: list[Timer] = []
        grid = grid_power_w(inputs.state)
        site_w = None if grid is None else grid - battery_power_w(inputs.state)
        for box in config.wallboxes:
            st = states.get(box.name)
            m = before.get(box.name, EvccBoxMemory())
            phases = fixed_phases(box, config)
            if st is None or not st.status.online or not st.vehicle_connected or box.manual_pause:
                why = "no vehicle" if st is not None and not st.vehicle_connected else "paused by user"
                memory[box.name] = EvccBoxMemory()
                requests.append(current_request(box.name, 0.0, f"evcc pv: {why}"))
                continue
            min_a = min_current(box)
            effective = max(0.0, *st.phase_currents_a)
            if site_w is None:
                memory[box.name] = m
                requests += [current_request(box.name, min_a if m.on else 0.0, "evcc pv: no measurement")]
                continue
            target = effective + (-site_w) / (V * phases)
            value = 0.0
            if m.on:
                # Below the minimum the projected site power (at minimum current) is above the
                # disable threshold (0 W): the disable timer runs.
                if target < min_a:
                    started = elapsed_s(m.disable_since, now)
                    if started is None:
                        m = replace(m, disable_since=now)
                        started = 0.0
                    if started >= EVCC_DISABLE_DELAY_S:
                        m = EvccBoxMemory()
                        reason = "evcc pv: disabled"
                    else:
                        value = min_a
                        left = EVCC_DISABLE_DELAY_S - started
                        timers.append(Timer(name=timer_name(box.name, "evcc disable"), seconds_left=left))
                        reason = f"evcc pv: minimum current, disable in {clock(left)}"
                else:
                    m = replace(m, disable_since=None)
                    value = min(box.max_current_a, max(min_a, floor_step(target)))
                    reason = "evcc pv: surplus"
            else:
                if target >= min_a and -site_w >= EVCC_THRESHOLD_W:
                    started = elapsed_s(m.enable_since, now)
                    if started is None:
                        m = replace(m, enable_since=now)
                        started = 0.0
                    if started >= EVCC_ENABLE_DELAY_S:
                        m = EvccBoxMemory(on=True)
                        value = min_a
                        reason = "evcc pv: enabled"
                    else:
                        left = EVCC_ENABLE_DELAY_S - started
                        timers.append(Timer(name=timer_name(box.name, "evcc enable"), seconds_left=left))
                        reason = f"evcc pv: enable in {clock(left)}"
                else:
                    m = replace(m, enable_since=None)
                    reason = "evcc pv: waiting for surplus"
            site_w += (value - effective) * V * phases
            memory[box.name] = m
            requests += [current_request(box.name, value, reason), phases_request(box.name, phases, reason)]
        charging = any(s.quantity == CHARGING_CURRENT_A and s.value > 0 for s in requests)
        return Decision(
            requests=tuple(requests),
            memory=EvccMemory(memory),
            state=ACTIVE if charging else IDLE,
            reason="evcc pv mode (reference)",
            timers=tuple(timers),
        )


# The product's guards with evcc's pv mode in place of the modes, for the replay's comparison.
REFERENCE_CONTROLLERS: tuple[Controller, ...] = (WallboxGuards(), EvccPvReference())
