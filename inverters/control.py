"""Pure controllers for inverters and the house battery: feed-in limitation (INV-4), the grid
operator's limits on feed-in and purchase (SG-1, LPP/LPC); battery management (INV-5) is
:mod:`inverters.battery_control`.

Every controller is a function of one cycle's :class:`~energy.control.Inputs`; it touches no
Django, socket or clock.

Feed-in limitation, the idea
----------------------------
The grid meter says how much the plant feeds in. Everything behind it balances:
``feed-in = controllable output + uncontrollable output - house - battery charge - cars``.
So the controllable inverters may deliver at most
``allowed = controllable output now + limit - feed-in now`` (plus what a managed battery can
still absorb), whatever the sun does next. That bound depends only on the consumers and the
uncontrollable producers (a PIKO CI), not on how fast the inverters settle, so it neither lags
nor oscillates, and a sudden burst of sun meets a limit that is already in place.

The allowed power is spread over the controllable inverters as one common percentage of their
maximum AC power, so each carries a share of the reduction in proportion to its size. While
some inverters are held at that limit, one that produces less than its share allows (shade, a
smaller array) cannot use it: the percentage is raised until the others use what it leaves
(water-filling), so nothing is curtailed that the limit did not require. While none is held
(passing clouds dim them all), they are all capped alike, so the returning sun meets a limit
that is already in place. A falling limit takes effect at once; a rising one
follows a ramp, so a release never overshoots.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from energy import wording
from energy.config import (
    ACTIVE_POWER_LIMIT_PCT,
    BATTERY_POWER_W,
    GRID_POSITION,
    KOSTAL_MAP_TYPES,
    PIKO_MP_PLUS,
    PlantConfig,
)
from energy.control import IDLE, LIMITING, OFF, Decision, Inputs
from energy.state import InverterState, Limit, PlantState

# The limit is aimed this far below its value, so measurement noise stays under it.
MARGIN_MIN_W = 25.0
MARGIN_FRACTION = 0.002
# An inverter more than this far (fraction of its maximum) below the power its limit allows
# is limited by its own PV, not by us.
PV_LIMITED_FRACTION = 0.03
# Room given to such an inverter to grow into; more than the margin above, so that an
# inverter given exactly this room still counts as limited by its PV next cycle.
GROWTH_FRACTION = 0.04
# An inverter whose output rose by more than this (fraction of its maximum) since the last
# cycle is still following the sun, not limited by it.
RISING_FRACTION = 0.01


@dataclass(frozen=True, slots=True)
class Share:
    """One controllable inverter as the distribution sees it."""

    name: str
    max_ac_w: float
    # What it could deliver at most if allowed; ``None`` when only its limit holds it back.
    capability_w: float | None


def margin_w(limit_w: float) -> float:
    return max(MARGIN_MIN_W, MARGIN_FRACTION * abs(limit_w))


def common_fraction(allowed_w: float, shares: Sequence[Share]) -> float:
    """The fraction p of maximum AC power such that sum(min(max_i * p, capability_i)) = allowed.

    1.0 when even no limit at all would stay within ``allowed_w``; 0.0 when nothing may be
    delivered. Inverters whose capability is known fill up first (water-filling).
    """
    if allowed_w <= 0 or not shares:
        return 0.0 if shares else 1.0
    fixed_w = 0.0
    free_max_w = sum(s.max_ac_w for s in shares)
    # Breakpoints: the fraction at which each PV-limited inverter reaches its capability.
    limited = sorted((s for s in shares if s.capability_w is not None), key=lambda s: _ratio(s))
    for share in limited:
        breakpoint_fraction = _ratio(share)
        # Below this breakpoint every still-free inverter delivers max * p.
        if free_max_w > 0 and fixed_w + free_max_w * breakpoint_fraction >= allowed_w:
            return max(0.0, min(1.0, (allowed_w - fixed_w) / free_max_w))
        fixed_w += min(share.capability_w or 0.0, share.max_ac_w)
        free_max_w -= share.max_ac_w
    if free_max_w <= 0:
        return 1.0
    return max(0.0, min(1.0, (allowed_w - fixed_w) / free_max_w))


def _ratio(share: Share) -> float:
    return min(1.0, (share.capability_w or 0.0) / share.max_ac_w) if share.max_ac_w > 0 else 1.0


def controllable(state: PlantState) -> list[InverterState]:
    """Inverters the product may write to now: controllable by type, online, with a reading."""
    return [
        inv
        for inv in state.inverters
        if inv.controllable and inv.status.online and inv.ac_power_w is not None and inv.max_ac_w > 0
    ]


def managed_battery(state: PlantState, config: PlantConfig) -> InverterState | None:
    """The battery the product manages (a PIKO MP plus battery), if it is online."""
    names = {inv.name for inv in config.inverters if inv.type == PIKO_MP_PLUS and inv.battery is not None}
    return next(
        (inv for inv in state.inverters if inv.name in names and inv.status.online and inv.battery_power_w is not None),
        None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputMemory:
    """What :class:`OutputLimit` remembers while it limits: the common fraction and when it was
    set (for the release ramp), and each inverter's cap and output then (held back or not)."""

    fraction: float
    at: dt.datetime
    caps: Mapping[str, float] = field(default_factory=dict)
    outputs: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutputLimit:
    """The feed-in bound as a reusable piece: feed-in limitation and the grid operator's LPP."""

    name: str

    def decide_for(self, inputs: Inputs, limit_w: float | None, reason: str, absorb_w: float = 0.0) -> Decision:
        """``reason`` names the limit with its value, e.g. "feed-in limit 7.62 kW" (:mod:`energy.wording`)."""
        state, now = inputs.state, inputs.now
        memory = inputs.recall(OutputMemory, None)
        if limit_w is None:
            return Decision(state=OFF)
        inverters = controllable(state)
        if not inverters:
            return Decision(state=IDLE, reason="no controllable inverter online", memory=memory)
        if state.meter is None:
            # Without a measurement the safe choice is to hold what was in force.
            held = memory.fraction if memory is not None else None
            if held is None or held >= 1.0:
                return Decision(state=IDLE, reason="no measurement", memory=memory)
            return Decision(
                limits=_limits(inverters, held, f"{reason}, held while there is no measurement"),
                state=LIMITING,
                reason=f"no measurement: inverters held at {wording.percent(held * 100)}",
                memory=memory,
            )
        feed_in_w = -state.meter.active_power_w
        output_w = sum(inv.ac_power_w or 0.0 for inv in inverters)
        allowed_w = output_w + (limit_w - margin_w(limit_w)) - feed_in_w + absorb_w
        previous: Mapping[str, float] = memory.caps if memory is not None else {}
        outputs: Mapping[str, float] = memory.outputs if memory is not None else {}
        shares = [_share(inv, previous.get(inv.name), outputs.get(inv.name)) for inv in inverters]
        if all(share.capability_w is not None for share in shares):
            # Nobody is held back by a limit: that is the weather, not shade. Cap them all alike,
            # so that when the sun comes out the limit is already in place.
            total_max_w = sum(share.max_ac_w for share in shares)
            target = max(0.0, min(1.0, allowed_w / total_max_w))
            if allowed_w >= output_w:
                # No excess now: the cap waits above every inverter's output, never cuts one.
                highest = max((inv.ac_power_w or 0.0) / inv.max_ac_w for inv in inverters)
                target = max(target, min(1.0, highest + GROWTH_FRACTION))
        else:
            target = common_fraction(allowed_w, shares)
        fraction = target
        ramping = False
        if memory is not None and target > memory.fraction:
            last = memory.fraction
            elapsed_s = (now - memory.at).total_seconds()
            step = _ramp_fraction(inputs.settings) * max(elapsed_s, 0.0)
            if target > last + step:
                fraction, ramping = last + step, True
        if fraction >= 1.0:
            return Decision(state=IDLE, reason=f"{wording.exchange(-feed_in_w)}; {reason} not reached")
        pcts = quantized_pcts(inverters, fraction)
        caps = {name: pct / 100.0 for name, pct in pcts.items()}
        why = f"{reason}, releasing step by step" if ramping else reason
        return Decision(
            limits=_limits(inverters, fraction, why),
            state=LIMITING,
            reason=f"{wording.exchange(-feed_in_w)}; {why}: inverters at {wording.percent(fraction * 100)}",
            memory=OutputMemory(
                fraction=fraction,
                at=now,
                caps=caps,
                outputs={inv.name: inv.ac_power_w or 0.0 for inv in inverters},
            ),
        )


def _share(inv: InverterState, cap: float | None, output_before_w: float | None) -> Share:
    output_w = inv.ac_power_w or 0.0
    allowed_w = inv.max_ac_w * (cap if cap is not None else 1.0)
    # Still climbing (the sun came out, or its limit rose, a moment ago): not held back by its
    # PV, only not there yet.
    rising = output_before_w is not None and output_w - output_before_w > RISING_FRACTION * inv.max_ac_w
    if rising or output_w >= allowed_w - PV_LIMITED_FRACTION * inv.max_ac_w:
        return Share(inv.name, inv.max_ac_w, None)
    return Share(inv.name, inv.max_ac_w, output_w + GROWTH_FRACTION * inv.max_ac_w)


def quantized_pcts(inverters: Sequence[InverterState], fraction: float) -> dict[str, float]:
    """Each inverter's limit in the steps its register takes, adding up to no more than the
    common fraction allows.

    KOSTAL's own map takes whole percent (register 533): those are rounded down, and what that
    leaves is given to inverters with a finer setpoint (SunSpec), or else whole percent by whole
    percent to the smallest KOSTAL inverters while the total stays within the allowance.
    """
    fraction = max(0.0, min(1.0, fraction))
    target_w = sum(inv.max_ac_w for inv in inverters) * fraction
    coarse = [inv for inv in inverters if inv.type in KOSTAL_MAP_TYPES]
    fine = [inv for inv in inverters if inv.type not in KOSTAL_MAP_TYPES]
    pcts = {inv.name: float(math.floor(fraction * 100.0 + 1e-9)) for inv in coarse}
    left_w = target_w - sum(inv.max_ac_w * pcts[inv.name] / 100.0 for inv in coarse)
    if fine:
        fine_max_w = sum(inv.max_ac_w for inv in fine)
        pct = min(100.0, math.floor(left_w / fine_max_w * 10_000.0) / 100.0)
        pcts.update({inv.name: pct for inv in fine})
    else:
        for inv in sorted(coarse, key=lambda i: i.max_ac_w):
            step_w = inv.max_ac_w / 100.0
            if step_w <= left_w + 1e-6 and pcts[inv.name] < 100.0:
                pcts[inv.name] += 1.0
                left_w -= step_w
    return {inv.name: pcts[inv.name] for inv in inverters}


def _ramp_fraction(settings: Any) -> float:
    ramp_pct = getattr(getattr(settings, "feed_in_limit", None), "release_ramp_pct_per_s", 10.0)
    return max(float(ramp_pct), 0.1) / 100.0


def _limits(inverters: Sequence[InverterState], fraction: float, reason: str) -> tuple[Limit, ...]:
    return tuple(
        Limit(device=name, quantity=ACTIVE_POWER_LIMIT_PCT, max_value=pct, reason=reason)
        for name, pct in quantized_pcts(inverters, fraction).items()
    )


def _absorbable_w(state: PlantState, config: PlantConfig) -> float:
    """How much more a managed battery can charge right now, so surplus goes there before it is curtailed."""
    if not config.battery_management.enabled:
        return 0.0
    battery = managed_battery(state, config)
    if battery is None:
        return 0.0
    spec = next((inv.battery for inv in config.inverters if inv.name == battery.name), None)
    if spec is None or (battery.battery_soc_pct or 0.0) >= config.battery_management.max_soc_pct:
        return 0.0
    return max(0.0, spec.max_charge_w - (battery.battery_power_w or 0.0))


class FeedInLimitation:
    """INV-4: keep feed-in at the grid connection point under the plant's limit."""

    name = "feed_in_limitation"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        settings = config.feed_in_limit
        if not settings.enabled:
            return Decision(state=OFF, reason="switched off")
        if config.installation_position != GRID_POSITION:
            return Decision(state=OFF, reason="needs the meter at the grid connection point")
        return OutputLimit(self.name).decide_for(
            inputs,
            settings.limit_w,
            f"feed-in limit {wording.power(settings.limit_w)}",
            absorb_w=_absorbable_w(inputs.state, config),
        )


class GridOperatorLimits:
    """SG-1: the grid operator's limits, above every other controller.

    LPP bounds the inverters like the feed-in limit does. LPC bounds what a managed battery
    may draw from the grid: purchase may not exceed the limit because of it.
    """

    name = "grid_operator_limits"

    def decide(self, inputs: Inputs) -> Decision:
        config: PlantConfig = inputs.settings
        limits = config.grid_limits
        if limits.lpp_w is None and limits.lpc_w is None:
            return Decision(state=OFF, reason="no limit from the grid operator")
        decision = Decision(state=IDLE)
        if limits.lpp_w is not None:
            decision = OutputLimit(self.name).decide_for(
                inputs,
                limits.lpp_w,
                f"grid operator's feed-in limit (LPP) {wording.power(limits.lpp_w)}",
                absorb_w=_absorbable_w(inputs.state, config),
            )
        lpc_limits: tuple[Limit, ...] = ()
        battery = managed_battery(inputs.state, config)
        meter = inputs.state.meter
        if limits.lpc_w is not None and battery is not None and meter is not None:
            # Charging may use what purchase has left under the limit (and all surplus).
            max_charge_w = (battery.battery_power_w or 0.0) + (limits.lpc_w - meter.active_power_w)
            lpc_limits = (
                Limit(
                    device=battery.name,
                    quantity=BATTERY_POWER_W,
                    max_value=max_charge_w,
                    reason=f"grid operator's purchase limit (LPC) {wording.power(limits.lpc_w)}",
                ),
            )
        lpc = f"purchase limit (LPC) {wording.power(limits.lpc_w)}" if limits.lpc_w is not None else ""
        if limits.lpc_w is not None and meter is not None:
            house_w = house_alone_w(inputs.state)
            if house_w > limits.lpc_w + margin_w(limits.lpc_w):
                lpc = (
                    f"the house alone draws {wording.power(house_w)}, more than the purchase limit (LPC) "
                    f"{wording.power(limits.lpc_w)}: the controllable consumers are at their floor"
                )
        reasons = [r for r in (decision.reason, lpc) if r]
        return Decision(
            limits=decision.limits + lpc_limits,
            memory=decision.memory,
            state=LIMITING if decision.limits or lpc_limits else IDLE,
            reason="; ".join(reasons),
        )


def house_alone_w(state: PlantState) -> float:
    """Purchase without what the product controls: the cars and battery charging."""
    if state.meter is None:
        return 0.0
    cars_w = sum(max(0.0, box.power_w or 0.0) for box in state.wallboxes)
    charging_w = sum(max(0.0, inv.battery_power_w or 0.0) for inv in state.inverters)
    return state.meter.active_power_w - cars_w - charging_w
