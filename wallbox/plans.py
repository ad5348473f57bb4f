"""A box's charging plan in the cycle (issue 19, part 3): pure, like the other wallbox controllers.

:func:`plan_now` plans again in every cycle from the energy the car has taken this session
(:func:`energy.chargeplan.plan`) and says what the plan wants of the box now:

- ``CHARGE``: the slot now is a planned grid slot (or the plan is behind): charge at the box's
  maximum current, whatever the mode (Lock and a person's pause still win; the fuse, unbalance
  and grid-operator bounds above the wallbox modes still cut it).
- ``WAIT``: the plan has energy left but not now. A box in Power mode waits (Power would charge at
  once, at any price); a solar mode runs as configured, because surplus charging only helps.
- ``None``: no plan in force (none set, a one-off plan past its departure, or the target reached):
  the configured mode runs.

Where the plan's surplus and prices come from outside the cycle (the stored forecast, the tariff):
:data:`slot_source`, set by ``plant`` (which sits above both the forecast and the tariffs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from energy import chargeplan as cp
from energy.config import NOMINAL_VOLTAGE_V, PlantConfig, WallboxConfig
from energy.state import WallboxState
from wallbox.common import fixed_phases, fuse_margin, min_current, vehicle_phases

CHARGE = "charge"
WAIT = "wait"

# (plant, start, end) -> (the slots: forecast surplus and purchase price, the currency) for plans;
# set by plant.apps (plant sits above the forecast and the tariffs, which wallbox may not import).
slot_source: Callable[[Any, dt.datetime, dt.datetime], tuple[tuple[cp.SlotInput, ...], str]] | None = None


@dataclass(frozen=True, slots=True)
class PlanNow:
    action: str  # CHARGE or WAIT
    plan: cp.Plan
    reason: str


def max_power_w(box: WallboxConfig, config: PlantConfig, st: WallboxState | None) -> float:
    """Phases x current x 230 V: the box's maximum current, within the main fuse."""
    phases = min(fixed_phases(box, config), vehicle_phases(st))
    fuse = config.mains.fuse_a - fuse_margin(config.mains.fuse_a)
    return phases * min(box.max_current_a, fuse) * NOMINAL_VOLTAGE_V


def min_power_w(box: WallboxConfig, config: PlantConfig, st: WallboxState | None) -> float:
    phases = min(fixed_phases(box, config), vehicle_phases(st))
    return phases * min_current(box) * NOMINAL_VOLTAGE_V


def delivered_wh(st: WallboxState | None) -> float:
    """The energy the car took this session, as the box counts it (0 where it does not)."""
    if st is None or st.session_energy_wh is None:
        return 0.0
    return max(0.0, st.session_energy_wh)


def current_plan(box: WallboxConfig, config: PlantConfig, st: WallboxState | None, now: dt.datetime) -> cp.Plan | None:
    """The plan as it stands at ``now``; ``None`` when no plan is in force."""
    settings = box.plan
    if settings is None:
        return None
    departure = settings.next_departure(now)
    if departure is None:
        return None
    needed = cp.needed_wh(settings.target_wh, delivered_wh(st))
    # Slots picked with a reserve (a car below its maximum power still makes it); charging
    # itself stops at the target.
    return cp.plan(
        now,
        departure,
        needed * (1.0 + cp.RESERVE),
        max_power_w(box, config, st),
        settings.slots,
        min_power_w=min_power_w(box, config, st),
    )


def plan_now(
    box: WallboxConfig, config: PlantConfig, st: WallboxState | None, now: dt.datetime, charging: bool = False
) -> PlanNow | None:
    """What the plan wants now. ``charging``: the box charges under the plan since the last cycle;
    it goes on through a slot as cheap as the dearest one planned, so the car is not stopped at
    the end of a slot only to start again at the next (the plan moves as the energy comes in)."""
    settings = box.plan
    if settings is None:
        return None
    plan = current_plan(box, config, st, now)
    if plan is None:
        return None
    needed = cp.needed_wh(settings.target_wh, delivered_wh(st))
    if needed <= 0:
        return None
    shown = cp.Plan(plan.now, plan.departure, needed, plan.max_power_w, plan.slots, plan.feasible)
    reason = cp.describe(shown, config.time_zone)
    slot = plan.slot_at(now)
    if not plan.feasible or (slot is not None and slot.grid_w > 0):
        return PlanNow(CHARGE, plan, reason)
    planned = [s.price for s in plan.slots if s.grid_w > 0 and s.price is not None]
    if charging and slot is not None and slot.price is not None and planned and slot.price <= max(planned):
        return PlanNow(CHARGE, plan, reason)
    return PlanNow(WAIT, plan, reason)
