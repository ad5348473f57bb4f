"""Battery management (INV-5): charge a PIKO MP plus battery from surplus and discharge it to
cover consumption, aiming at zero exchange at the grid connection point, within SoC and power
limits; grid-optimised, it charges only what the forecast day will not bring and keeps room for
what the forecast puts above the feed-in limit (the plan is :mod:`energy.batteryplan`).

Pure like the other controllers (:mod:`inverters.control`): a function of one cycle's
:class:`~energy.control.Inputs`, no Django, socket or clock.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from energy import batteryplan, wording
from energy.config import ACTIVE_POWER_LIMIT_PCT, BATTERY_POWER_W, GRID_POSITION, HouseBatteryConfig, PlantConfig
from energy.control import ACTIVE, IDLE, OFF, Decision, Inputs
from energy.forecast import SLOT_S
from energy.state import InverterState, Limit, Setpoint
from inverters.control import managed_battery


class BatteryManagement:
    """INV-5: charge a PIKO MP plus battery from surplus and discharge it to cover consumption,
    aiming at zero exchange at the grid connection point, within SoC and power limits."""

    name = "battery_management"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        settings = config.battery_management
        if not settings.enabled:
            return Decision(state=OFF, reason="switched off")
        if config.installation_position != GRID_POSITION:
            return Decision(state=OFF, reason="needs the meter at the grid connection point")
        battery = managed_battery(inputs.state, config)
        spec = next((inv.battery for inv in config.inverters if battery and inv.name == battery.name), None)
        if battery is None or spec is None:
            return Decision(state=IDLE, reason="no managed battery online")
        meter = inputs.state.meter
        if meter is None:
            return Decision(
                requests=(Setpoint(device=battery.name, quantity=BATTERY_POWER_W, value=0.0, reason="no measurement"),),
                state=IDLE,
                reason="no measurement: battery idle",
            )
        soc = battery.battery_soc_pct
        limits: list[Limit] = [
            Limit(
                device=battery.name,
                quantity=BATTERY_POWER_W,
                max_value=spec.max_charge_w,
                min_value=-spec.max_discharge_w,
                reason=(
                    f"battery power: charge up to {wording.power(spec.max_charge_w)}, "
                    f"discharge up to {wording.power(spec.max_discharge_w)}"
                ),
            )
        ]
        if soc is not None and soc >= settings.max_soc_pct:
            limits.append(
                Limit(
                    device=battery.name,
                    quantity=BATTERY_POWER_W,
                    max_value=0.0,
                    reason=f"battery full: {wording.percent(soc)} reached the maximum of "
                    f"{wording.percent(settings.max_soc_pct)}",
                )
            )
        if soc is not None and soc <= settings.min_soc_pct:
            limits.append(
                Limit(
                    device=battery.name,
                    quantity=BATTERY_POWER_W,
                    min_value=0.0,
                    reason=f"battery empty: {wording.percent(soc)} reached the minimum of "
                    f"{wording.percent(settings.min_soc_pct)}",
                )
            )
        # Zero exchange: what the battery does now, minus what still flows at the grid point.
        target_w = (battery.battery_power_w or 0.0) - meter.active_power_w
        memory, plan_note = None, ""
        if settings.grid_optimised:
            memory = grid_plan(inputs, config, battery, spec)
            plan = memory.plan
            limit_w = plan_limit_w(config)
            if plan is not None and plan.allowed_w is not None and limit_w is not None and target_w > 0:
                planned_w = batteryplan.setpoint_w(target_w, plan.allowed_w, limit_w)
                if planned_w < target_w:
                    reason = (
                        f"{wording.exchange(meter.active_power_w)}: charging {wording.power(planned_w)}; {plan.reason}"
                    )
                    setpoint = Setpoint(
                        device=battery.name, quantity=BATTERY_POWER_W, value=round(planned_w, 1), reason=reason
                    )
                    return Decision(
                        requests=(setpoint,), limits=tuple(limits), state=ACTIVE, reason=reason, memory=memory
                    )
            if plan is not None:
                plan_note = f"; plan: {plan.reason}"
        if target_w > 0:
            reason = f"{wording.exchange(meter.active_power_w)}: charging with up to {wording.power(target_w)}"
        elif target_w < 0:
            reason = f"{wording.exchange(meter.active_power_w)}: discharging with up to {wording.power(-target_w)}"
        else:
            reason = "no exchange with the grid: battery idle"
        return Decision(
            requests=(
                Setpoint(device=battery.name, quantity=BATTERY_POWER_W, value=round(target_w, 1), reason=reason),
            ),
            limits=tuple(limits),
            state=ACTIVE,
            reason=reason + plan_note,
            memory=memory,
        )


# Grid-optimised charging: how the day is going against the forecast, as a ratio of measured to
# forecast PV, smoothed over this long, measured only while no inverter is curtailed and the
# forecast expects more than MIN_FORECAST_W.
RATIO_TAU_S = 1800.0
MIN_FORECAST_W = 300.0


@dataclass(frozen=True, slots=True)
class PlanMemory:
    """What grid-optimised charging remembers: the day's PV ratio and the last plan (for the pages)."""

    pv_ratio: float = 1.0
    at: dt.datetime | None = None
    plan: batteryplan.Plan | None = None


def plan_limit_w(config: PlantConfig) -> float | None:
    """The feed-in bound the plan keeps room for: the feed-in limit, the grid operator's LPP if lower."""
    limits = [w for w in (config.grid_limits.lpp_w,) if w is not None]
    if config.feed_in_limit.enabled:
        limits.append(config.feed_in_limit.limit_w)
    return min(limits) if limits else None


def grid_plan(inputs: Inputs, config: PlantConfig, battery: InverterState, spec: HouseBatteryConfig) -> PlanMemory:
    """Re-plan from the measured SoC with the stored forecast (read with the settings, never computed here)."""
    memory = inputs.recall(PlanMemory, PlanMemory())
    forecast, limit_w, soc = config.forecast, plan_limit_w(config), battery.battery_soc_pct
    if forecast is None or limit_w is None or soc is None:
        return PlanMemory(memory.pv_ratio, memory.at, None)
    now = inputs.now
    ratio = memory.pv_ratio
    slot = next((s for s in forecast.slots if s.start <= now < s.start + dt.timedelta(seconds=SLOT_S)), None)
    curtailed = any(
        quantity == ACTIVE_POWER_LIMIT_PCT and bound.max_value is not None and bound.max_value < 100.0
        for (_device, quantity), bound in inputs.bounds.items()
    )
    if slot is not None and slot.pv_w > MIN_FORECAST_W and not curtailed:
        measured_w = sum(
            inv.ac_power_w or 0.0 for inv in inputs.state.inverters if inv.name != battery.name and inv.status.online
        )
        sample = min(1.3, max(0.0, measured_w / slot.pv_w))
        if memory.at is None:
            ratio = sample
        else:
            weight = min(1.0, max(0.0, (now - memory.at).total_seconds()) / RATIO_TAU_S)
            ratio += weight * (sample - ratio)
    settings = config.battery_management
    plan = batteryplan.plan(
        now=now,
        slots=forecast.slots,
        soc_pct=soc,
        capacity_wh=spec.capacity_wh,
        max_charge_w=spec.max_charge_w,
        min_soc_pct=settings.min_soc_pct,
        max_soc_pct=settings.max_soc_pct,
        limit_w=limit_w,
        deadline=batteryplan.deadline_at(now, settings.full_by, zoneinfo.ZoneInfo(config.time_zone)),
        pv_ratio=ratio,
    )
    return PlanMemory(ratio, now, plan)
