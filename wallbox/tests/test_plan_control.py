"""A charging plan in the wallbox modes controller (issue 19.3), as cycle tables on the tiny plant
of ``test_control``: plan slots charge at full power, a Power-mode box waits outside them, a solar
mode runs as set, Lock and a pause win, a plan that is behind charges at once."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from energy import chargeplan as cp
from energy.config import LOCK, POWER, SOLAR_PURE
from wallbox.tests.test_control import START, box, plant


def settings(hours: float = 10.0, target_wh: float = 20_000.0) -> cp.PlanSettings:
    """Cheap (0.20) from 5 to 9 hours after START (17:00-21:00 local), 0.40 otherwise: 22 kWh (the
    target and its reserve) at 11 kW take the last two cheap hours."""
    slots = tuple(cp.SlotInput(START + k * cp.SLOT, 0.0, 0.20 if 20 <= k < 36 else 0.40) for k in range(36 * 4))
    return cp.PlanSettings(target_wh=target_wh, departure=START + dt.timedelta(hours=hours), slots=slots)


@pytest.mark.parametrize(
    ("mode", "after_h", "amps", "reason"),
    [
        (
            POWER,
            0.0,
            0.0,
            "charging plan: 20.0 kWh by 22:00, cheap hours from 19:00 (waiting)",
        ),  # waits for the cheap hours
        (POWER, 7.5, 16.0, "charging plan: 20.0 kWh by 22:00, cheap hours from "),  # in them: full power
        (SOLAR_PURE, 7.5, 16.0, "charging plan"),  # the plan's slot charges a solar-mode box too
        (LOCK, 7.5, 0.0, "locked"),  # Lock wins
    ],
)
def test_plan_slots_charge_and_power_mode_waits_outside_them(mode, after_h, amps, reason):
    p = plant(box(mode=mode, plan=settings()))
    p.now = START + dt.timedelta(hours=after_h)
    p.cycle()
    point = p.setpoint("carport")
    assert point.value == amps
    assert point.reason.startswith(reason), point.reason
    if mode == POWER and amps == 0.0:
        assert point.reason.endswith("(waiting)")


def test_a_solar_box_outside_the_plan_slots_runs_its_mode():
    p = plant(box(mode=SOLAR_PURE, plan=settings()))
    p.cycle()
    point = p.setpoint("carport")
    assert point.value == 0.0 and "charging plan" not in point.reason


def test_a_plan_that_is_behind_charges_now_and_a_past_plan_leaves_the_mode():
    p = plant(box(mode=POWER, plan=settings(hours=1.0)))
    p.cycle()
    assert p.setpoint("carport").value == 16.0
    assert p.setpoint("carport").reason.endswith("behind: charging now")
    past = dataclasses.replace(settings(), departure=START - dt.timedelta(hours=1))
    p = plant(box(mode=POWER, plan=past))
    p.cycle()
    assert p.setpoint("carport").reason == "Power mode: maximum current"


def test_a_pause_wins_over_the_plan():
    p = plant(box(mode=POWER, plan=settings(hours=1.0), manual_pause=True))
    p.cycle()
    assert p.setpoint("carport").value == 0.0
    assert p.setpoint("carport").reason == "paused by user"
