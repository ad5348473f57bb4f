"""What of the cycle's snapshots becomes an event: once per outage, per new wallbox error code,
per curtailment episode; never once a second."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from energy.state import (
    ControllerStatus,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    InverterState,
    PlantState,
    WallboxState,
)
from energy.status import StatusTracker
from events.models import CURTAILMENT, DEVICE_OFFLINE, DEVICE_ONLINE, WALLBOX_ERROR
from events.watch import CycleWatch

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def snapshot(now: dt.datetime, meter: DeviceStatus, **changes: object) -> PlantState:
    state = PlantState(
        plant_id=1,
        timestamp=now,
        sequence=1,
        meter=None,
        meter_status=meter,
        flow=EnergyFlow(
            grid_power_w=None,
            pv_power_w=None,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=None,
            wallbox_power_w=None,
        ),
        totals=EnergyCounters(),
    )
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


def run(online_per_second: list[bool]) -> list[tuple[str, str]]:
    """The meter read well (True) or not (False) each second, through the cycle's own tracker."""
    watch = CycleWatch(plant_id=1)
    tracker = StatusTracker("meter")
    found = []
    for second, online in enumerate(online_per_second):
        now = T0 + dt.timedelta(seconds=second)
        status = tracker.ok(now) if online else tracker.failed(now, "no answer")
        found += [(f.kind, f.text) for f in watch.see(snapshot(now, status))]
    return found


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ([True] * 10, []),
        ([True] * 5 + [False] * 3600, [DEVICE_OFFLINE]),
        ([True] * 5 + [False] * 3600 + [True] * 5, [DEVICE_OFFLINE, DEVICE_ONLINE]),
        ([False] * 30, [DEVICE_OFFLINE]),  # offline from the first read on (after a restart)
        ([True, False, True, False, True], [DEVICE_OFFLINE, DEVICE_ONLINE, DEVICE_OFFLINE, DEVICE_ONLINE]),
    ],
)
def test_one_event_per_outage_and_one_per_return(pattern: list[bool], expected: list[str]) -> None:
    assert [kind for kind, _ in run(pattern)] == expected


def test_the_messages_name_the_device_the_reason_and_the_outage_length() -> None:
    found = run([True] + [False] * 3600 + [True])
    assert found[0] == (DEVICE_OFFLINE, "meter offline: no answer")
    assert found[1] == (DEVICE_ONLINE, "meter back online after 1 h 00 min")


def test_an_outage_has_one_key_however_often_it_is_seen_by_a_fresh_watch() -> None:
    """A second worker (or a restarted watch) that sees the same outage names it the same way."""
    tracker = StatusTracker("meter")
    tracker.failed(T0, "no answer")
    status = tracker.failed(T0 + dt.timedelta(seconds=5), "no answer")
    keys = {CycleWatch(plant_id=1).see(snapshot(T0 + dt.timedelta(seconds=s), status))[0].key for s in (5, 9)}
    assert len(keys) == 1


def test_a_plant_without_a_meter_has_no_outage() -> None:
    watch = CycleWatch(plant_id=1)
    tracker = StatusTracker("meter")
    for second in range(5):
        now = T0 + dt.timedelta(seconds=second)
        assert watch.see(snapshot(now, tracker.failed(now, "no meter configured"))) == []


def box(code: int) -> WallboxState:
    status = DeviceStatus(name="Garage", online=True, last_seen=T0)
    return WallboxState(
        name="Garage",
        type="enector",
        status=status,
        state="idle",
        mode="power",
        configured_mode="power",
        error_code=code,
    )


def test_a_new_wallbox_error_code_is_one_event_with_its_meaning() -> None:
    watch = CycleWatch(plant_id=1, error_texts={2011: "CP EV out of signaled duty range"})
    online = DeviceStatus(name="meter", online=True, last_seen=T0)
    codes = [0, 2011, 2011, 2011, 0, 0, 2011, 3000]
    found = []
    for second, code in enumerate(codes):
        found += watch.see(snapshot(T0 + dt.timedelta(seconds=second), online, wallboxes=(box(code),)))
    assert [(f.kind, f.text) for f in found] == [
        (WALLBOX_ERROR, "Garage: error 2011 (CP EV out of signaled duty range)"),
        (WALLBOX_ERROR, "Garage: error 2011 (CP EV out of signaled duty range)"),
        (WALLBOX_ERROR, "Garage: error 3000"),
    ]


def test_curtailment_that_flickers_within_a_quarter_hour_is_one_event() -> None:
    watch = CycleWatch(plant_id=1)
    online = DeviceStatus(name="meter", online=True, last_seen=T0)
    limiting = (ControllerStatus(name="feed_in_limitation", state="limiting", reason="feed-in limit 6.00 kW"),)
    idle = (ControllerStatus(name="feed_in_limitation", state="idle"),)
    # limiting 0-59 s, idle, limiting again at 5 min (same episode), idle, limiting again after 30 min.
    timeline = [(s, limiting) for s in range(60)] + [(120, idle), (300, limiting), (360, idle)]
    timeline += [(360 + 1800, limiting)]
    found = []
    for second, controllers in timeline:
        at = T0 + dt.timedelta(seconds=second)
        found += watch.see(snapshot(at, online, controllers=controllers, inverters=(held(60.0, 6000.0),)))
    assert [(f.kind, f.text) for f in found] == [
        (CURTAILMENT, "curtailment active: feed-in limit 6.00 kW"),
        (CURTAILMENT, "curtailment active: feed-in limit 6.00 kW"),
    ]


def held(limit_pct: float, ac_power_w: float | None) -> InverterState:
    """A 10 kW inverter held at ``limit_pct`` producing ``ac_power_w``."""
    status = DeviceStatus(name="roof", online=True, last_seen=T0)
    return InverterState(
        name="roof", type="plenticore", status=status, controllable=True, max_ac_w=10_000.0,
        ac_power_w=ac_power_w, limit_pct=limit_pct,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("inverter", "curtailed"),
    [
        (held(60.0, 6_000.0), True),  # producing what the limit allows
        (held(60.0, 5_800.0), True),  # within the inverter's settling
        (held(60.0, 2_000.0), False),  # clouds: the limit holds nothing back
        (held(81.5, 0.0), False),  # night under the failsafe values: nothing to curtail
        (held(100.0, 10_000.0), False),  # not held at all
        (held(60.0, None), False),  # not read
    ],
)
def test_curtailment_is_production_held_back_not_a_bound_nobody_presses(
    inverter: InverterState, curtailed: bool
) -> None:
    watch = CycleWatch(plant_id=1)
    online = DeviceStatus(name="meter", online=True, last_seen=T0)
    reason = "curtailment active: no exchange with the grid; grid operator's feed-in limit (LPP) 10.0 kW"
    limiting = (ControllerStatus(name="grid_operator_limits", state="limiting", reason=reason),)
    found = watch.see(snapshot(T0, online, controllers=limiting, inverters=(inverter,)))
    expected = [
        (CURTAILMENT, "curtailment active: no exchange with the grid; grid operator's feed-in limit (LPP) 10.0 kW")
    ]
    assert [(f.kind, f.text) for f in found] == (expected if curtailed else [])


def _handover(pattern: list[bool], moves_at: int) -> list[tuple[str, str]]:
    """Seconds 0 .. moves_at-1 on worker A, the rest on worker B: a fresh tracker and watch that
    resumes from what A logged (the open outages of the event log, events.services.open_outages)."""
    found: list[tuple[str, str, str]] = []
    for part, seconds in (("A", range(moves_at)), ("B", range(moves_at, len(pattern)))):
        watch, tracker = CycleWatch(plant_id=1), StatusTracker("meter")
        if part == "B":
            latest = [(kind, key) for kind, _text, key in found][-1:]
            if latest and latest[0][0] == DEVICE_OFFLINE:
                watch.resume({"meter": dt.datetime.fromisoformat(latest[0][1].removeprefix("offline:1:meter:"))})
        for second in seconds:
            now = T0 + dt.timedelta(seconds=second)
            status = tracker.ok(now) if pattern[second] else tracker.failed(now, "no answer")
            found += [(f.kind, f.text, f.key) for f in watch.see(snapshot(now, status))]
    return [(kind, text) for kind, text, _key in found]


@pytest.mark.parametrize(
    ("pattern", "moves_at", "expected"),
    [
        # The outage begins on A and ends on B: one start (A's), one end (B's), its whole length.
        ([True] * 5 + [False] * 60 + [True] * 5, 30, [DEVICE_OFFLINE, DEVICE_ONLINE]),
        # It ends exactly while the plant moves: B's first read is good.
        ([True] * 5 + [False] * 25 + [True] * 5, 30, [DEVICE_OFFLINE, DEVICE_ONLINE]),
        # It begins with B's first read: B logs its start.
        ([True] * 30 + [False] * 10 + [True] * 5, 30, [DEVICE_OFFLINE, DEVICE_ONLINE]),
        # Still open when the test ends: one start only, never a second.
        ([True] * 5 + [False] * 60, 30, [DEVICE_OFFLINE]),
        ([True] * 10, 5, []),
    ],
)
def test_an_outage_across_a_handover_is_one_event_pair(pattern: list[bool], moves_at: int, expected: list[str]) -> None:
    assert [kind for kind, _ in _handover(pattern, moves_at)] == expected


def test_the_end_of_an_outage_seen_by_another_worker_names_its_whole_length() -> None:
    found = _handover([True] + [False] * 3600 + [True], moves_at=1800)
    assert found == [
        (DEVICE_OFFLINE, "meter offline: no answer"),
        (DEVICE_ONLINE, "meter back online after 1 h 00 min"),
    ]
