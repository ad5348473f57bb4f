"""A replay's charging plans (issue 19.3): the scenario's ``product.wallboxes[i].plan`` and
``product.tariff`` as the cycle gets them (:class:`energy.chargeplan.PlanSettings`).

The slots carry what the product would have stored: the clear-sky forecast of the scenario's
site (the forecast's cold start, :func:`energy.forecast.compute` without history) less its base
load, and the tariff's price per local hour. Computed once at the replay's start (36 hours)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from energy import chargeplan as cp
from energy import forecast as fc
from replay.scenario import ChargingPlan, ReplayScenario, Tariff
from simulator.scenario import Scenario

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def slots(scenario: Scenario, tariff: Tariff | None) -> tuple[cp.SlotInput, ...]:
    start = scenario.start
    assert start is not None
    peak_w = sum(inv.pv_peak_w for inv in scenario.inverters) if scenario.inverters else scenario.pv_peak_w
    site = fc.Site(
        latitude_deg=scenario.latitude_deg,
        longitude_deg=scenario.longitude_deg,
        peak_w=peak_w,
        time_zone=scenario.timezone,
        base_load_w=scenario.house_base_w,
    )
    zone = zoneinfo.ZoneInfo(scenario.timezone)
    forecast = fc.compute(start, site)
    return tuple(
        cp.SlotInput(
            slot.start,
            max(0.0, slot.pv_w - slot.load_w),
            None if tariff is None else tariff.price_at_hour(slot.start.astimezone(zone).hour),
        )
        for slot in forecast.slots
    )


def plan_settings(plan: ChargingPlan | None, replay: ReplayScenario, scenario: Scenario) -> cp.PlanSettings | None:
    if plan is None:
        return None
    start = scenario.start
    assert start is not None
    zone = zoneinfo.ZoneInfo(scenario.timezone)
    tariff = replay.product.tariff
    common = {
        "target_wh": plan.target_wh,
        "time_zone": scenario.timezone,
        "slots": slots(scenario, tariff),
        "currency": tariff.currency if tariff is not None else "EUR",
    }
    try:
        at = dt.time.fromisoformat(plan.departure)
    except ValueError:
        moment = dt.datetime.fromisoformat(plan.departure)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
        return cp.PlanSettings(departure=moment.astimezone(dt.UTC), **common)  # type: ignore[arg-type]
    if plan.weekdays:
        days = tuple(WEEKDAYS.index(day) for day in plan.weekdays)
        return cp.PlanSettings(weekdays=days, time=at, **common)  # type: ignore[arg-type]
    local = start.astimezone(zone)
    moment = dt.datetime.combine(local.date(), at, tzinfo=zone)
    if moment <= start:
        moment = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=zone)
    return cp.PlanSettings(departure=moment.astimezone(dt.UTC), **common)  # type: ignore[arg-type]
