"""Wallboxes in the cycle, with scripted boxes: read with the others, shown per grid phase, the
mode in force resolved, setpoints written per box with their reason, a dead box a status."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from energy.config import (
    CHARGING_CURRENT_A,
    LOCK,
    POWER,
    SOLAR_PURE,
    TIME_MODE,
    PlantConfig,
    WallboxConfig,
)
from energy.control import ControlLoop, Decision, Inputs
from energy.counters import CounterState
from energy.devices import WallboxReading
from energy.state import Setpoint
from plant.cycle import PlantRuntime
from plant.testing import RecordingPublisher, ScriptedMeter, ScriptedWallbox, scripted_wallboxes

T0 = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)


class Charge:
    """Asks each box for a fixed current, or a pause for the box named ``pause``."""

    name = "charge"

    def __init__(self, current_a: float, pause: str = "") -> None:
        self.current_a, self.pause = current_a, pause

    def decide(self, inputs: Inputs) -> Decision:
        requests = tuple(
            Setpoint(device=box.name, quantity=CHARGING_CURRENT_A, value=0.0, reason="lock")
            if box.name == self.pause
            else Setpoint(device=box.name, quantity=CHARGING_CURRENT_A, value=self.current_a, reason="surplus")
            for box in inputs.state.wallboxes
        )
        return Decision(requests=requests, state="active")


def plant(*boxes: WallboxConfig) -> PlantConfig:
    return PlantConfig(
        plant_id=1,
        name="test",
        time_zone="Europe/Berlin",
        installation_position="grid",
        meter=None,
        wallboxes=boxes,
    )


def runtime(config: PlantConfig, boxes: dict[str, ScriptedWallbox], *controllers) -> PlantRuntime:
    return PlantRuntime(
        config,
        CounterState(),
        RecordingPublisher(),
        controllers,
        meter=ScriptedMeter(grid_w=3_000),
        wallbox_factory=scripted_wallboxes(boxes),
    )


async def test_a_box_is_read_shown_on_its_grid_phases_and_gets_its_current_with_the_reason():
    carport = ScriptedWallbox("carport", car_phases=1)
    garage = ScriptedWallbox("garage", car_phases=3)
    config = plant(WallboxConfig(name="carport", rotation="L2L3L1"), WallboxConfig(name="garage"))
    cycle = runtime(config, {"carport": carport, "garage": garage}, Charge(10.0))

    first = await cycle.cycle(T0)
    assert carport.written[-1] == (
        Setpoint(device="carport", quantity=CHARGING_CURRENT_A, value=10.0, reason="surplus", source="charge"),
    )
    assert [box.state for box in first.state.wallboxes] == ["waiting", "waiting"]

    second = await cycle.cycle(T0 + dt.timedelta(seconds=1))
    boxes = {box.name: box for box in second.state.wallboxes}
    # The 1-phase car on the box's L1, which is wired to the grid's L2.
    assert boxes["carport"].phase_currents_a == (0.0, 10.0, 0.0)
    assert boxes["garage"].phase_currents_a == (10.0, 10.0, 10.0)
    assert boxes["carport"].state == "charging" and boxes["carport"].reason == "surplus"
    assert boxes["carport"].current_a == 10.0 and boxes["carport"].mode == POWER
    assert second.state.flow.wallbox_power_w == pytest.approx(40 * 230.0)
    assert {d.name for d in second.state.devices} == {"carport", "garage"}


async def test_a_paused_box_says_why_and_a_dead_box_is_a_status_while_the_other_still_charges():
    carport, garage = ScriptedWallbox("carport"), ScriptedWallbox("garage", online=False)
    config = plant(WallboxConfig(name="carport"), WallboxConfig(name="garage"))
    cycle = runtime(config, {"carport": carport, "garage": garage}, Charge(16.0, pause="carport"))

    result = await cycle.cycle(T0)
    boxes = {box.name: box for box in result.state.wallboxes}
    assert boxes["carport"].state == "paused" and boxes["carport"].reason == "lock"
    assert carport.written[-1][0].value == 0.0
    assert boxes["garage"].state == "error"
    assert not boxes["garage"].status.online
    assert boxes["garage"].reason == "offline: no answer (scripted)"
    assert garage.written == [], "nothing is written to a box that did not answer"
    assert result.state.flow.wallbox_power_w == 0.0

    garage.online = False
    carport.online = False
    result = await cycle.cycle(T0 + dt.timedelta(seconds=1))
    assert result.state.flow.wallbox_power_w is None, "with no box answering, charging power is unknown"


async def test_new_settings_reach_a_box_without_reconnecting_it():
    carport = ScriptedWallbox("carport")
    created: list[str] = []

    def factory(config: WallboxConfig) -> ScriptedWallbox:
        created.append(config.name)
        return carport

    cycle = PlantRuntime(
        plant(WallboxConfig(name="carport")), CounterState(), RecordingPublisher(), (), wallbox_factory=factory
    )
    cycle.reconfigure(plant(WallboxConfig(name="carport", mode=LOCK)))
    result = await cycle.cycle(T0)
    assert created == ["carport"] and not carport.closed
    assert result.state.wallboxes[0].mode == LOCK
    cycle.reconfigure(plant())
    assert carport.closed and cycle.wallboxes == {}


def _time_mode() -> WallboxConfig:
    # Lock 08-12, Solar Pure 12-13, Power otherwise, every day.
    day = tuple(LOCK if 8 <= hour < 12 else SOLAR_PURE if hour == 12 else POWER for hour in range(24))
    return WallboxConfig(name="carport", mode=TIME_MODE, time_mode=(day,) * 7)


async def _mode_at(config: WallboxConfig, utc: dt.datetime) -> str:
    cycle = runtime(plant(config), {"carport": ScriptedWallbox("carport")})
    result = await cycle.cycle(utc)
    (box,) = result.state.wallboxes
    assert box.configured_mode == TIME_MODE
    return box.mode


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Summer (CEST, UTC+2): 06:00 UTC is 08:00 local.
        ("2025-06-21T05:59:59+00:00", POWER),
        ("2025-06-21T06:00:00+00:00", LOCK),
        ("2025-06-21T10:30:00+00:00", SOLAR_PURE),
        ("2025-06-21T11:00:00+00:00", POWER),
        # Winter (CET, UTC+1): 07:00 UTC is 08:00 local.
        ("2025-12-21T06:30:00+00:00", POWER),
        ("2025-12-21T07:00:00+00:00", LOCK),
        ("2025-12-21T11:00:00+00:00", SOLAR_PURE),
        # The day the clocks go back (26 Oct 2025, 03:00 CEST -> 02:00 CET).
        ("2025-10-26T06:59:00+00:00", POWER),
        ("2025-10-26T07:00:00+00:00", LOCK),
        # The day they go forward (30 Mar 2025, 02:00 CET -> 03:00 CEST).
        ("2025-03-30T05:59:00+00:00", POWER),
        ("2025-03-30T06:00:00+00:00", LOCK),
    ],
)
async def test_the_mode_in_force_follows_the_plants_local_time(utc: str, expected: str):
    assert await _mode_at(_time_mode(), dt.datetime.fromisoformat(utc)) == expected


async def test_a_weekday_gets_its_own_hours():
    week = tuple((LOCK if n == 6 else POWER,) * 24 for n in range(7))  # Sunday locked
    config = WallboxConfig(name="carport", mode=TIME_MODE, time_mode=week)
    sunday_late = dt.datetime(2025, 6, 22, 21, 30, tzinfo=dt.UTC)  # 23:30 Sunday in Berlin
    monday_early = dt.datetime(2025, 6, 22, 22, 30, tzinfo=dt.UTC)  # 00:30 Monday in Berlin
    assert await _mode_at(config, sunday_late) == LOCK
    assert await _mode_at(config, monday_early) == POWER


async def test_with_the_products_controllers_a_locked_box_is_paused_and_says_why():
    from plant.controllers import CONTROLLERS

    carport = ScriptedWallbox("carport", current_limit_a=16.0)
    cycle = runtime(plant(WallboxConfig(name="carport", mode=LOCK)), {"carport": carport}, *CONTROLLERS)
    result = await cycle.cycle(T0)
    (box,) = result.state.wallboxes
    assert carport.current_limit_a == 0.0
    assert box.state == "paused" and box.current_a == 0.0
    assert "locked" in box.reason


class DetectingWallbox(ScriptedWallbox):
    """A scripted box whose detection register reports ``detected`` phases."""

    detected: int = 0

    async def read(self) -> WallboxReading:
        reading = await super().read()
        return dataclasses.replace(reading, detected_vehicle_phases=self.detected or None)


async def test_the_cars_phases_are_learnt_while_plugged_in_and_forgotten_when_it_leaves():
    carport = ScriptedWallbox("carport", car_phases=1)
    cycle = runtime(plant(WallboxConfig(name="carport")), {"carport": carport}, Charge(10.0))
    first = await cycle.cycle(T0)
    assert first.state.wallboxes[0].vehicle_phases is None, "not drawing yet: unknown"
    second = await cycle.cycle(T0 + dt.timedelta(seconds=1))
    assert second.state.wallboxes[0].vehicle_phases == 1
    # Paused, it is still the same 1-phase car.
    cycle.control = ControlLoop((Charge(0.0),))
    await cycle.cycle(T0 + dt.timedelta(seconds=2))
    third = await cycle.cycle(T0 + dt.timedelta(seconds=3))
    assert third.state.wallboxes[0].phase_currents_a == (0.0, 0.0, 0.0)
    assert third.state.wallboxes[0].vehicle_phases == 1
    carport.vehicle_connected = False
    gone = await cycle.cycle(T0 + dt.timedelta(seconds=4))
    assert gone.state.wallboxes[0].vehicle_phases is None


async def test_the_boxs_detection_counts_only_while_it_offers_all_phases():
    carport = DetectingWallbox("carport", car_phases=3, switched_phases=1)
    carport.detected = 1  # what a box on one phase sees of any car
    cycle = runtime(plant(WallboxConfig(name="carport")), {"carport": carport}, Charge(0.0))
    on_one = await cycle.cycle(T0)
    assert on_one.state.wallboxes[0].vehicle_phases is None
    carport.switched_phases = 3  # switched back, not drawing yet: the 1 is stale
    stale = await cycle.cycle(T0 + dt.timedelta(seconds=1))
    assert stale.state.wallboxes[0].vehicle_phases is None
    carport.detected = 3
    seen = await cycle.cycle(T0 + dt.timedelta(seconds=2))
    assert seen.state.wallboxes[0].vehicle_phases == 3
    # A box that offered all phases since the plug-in is believed at once.
    garage = DetectingWallbox("garage", car_phases=1)
    garage.detected = 1
    fresh = runtime(plant(WallboxConfig(name="garage")), {"garage": garage}, Charge(0.0))
    assert (await fresh.cycle(T0)).state.wallboxes[0].vehicle_phases == 1
