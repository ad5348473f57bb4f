"""Several boxes on one RS485 line, read by the product's own cycle through the line's one owner:
no collision on the simulated multi-drop line, a box that answers garbage (each way a device can)
is an error with a readable message while the others charge, and a silent box costs the others
no more than its own timeout."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator

import pytest

from energy.config import CHARGING_CURRENT_A, PlantConfig, SerialConfig, WallboxConfig
from energy.control import Decision, Inputs
from energy.counters import CounterState
from energy.state import Setpoint
from plant.cycle import PlantRuntime
from plant.testing import RecordingPublisher
from rtubus.bus import acquire_bus, open_buses
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox.drivers import connect_wallbox

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)
NAMES = ("a", "b", "c")
CAR = {"plug": "00:00:00", "phases": 3, "max_current_a": 16}


class Charge:
    name = "charge"

    def decide(self, inputs: Inputs) -> Decision:
        return Decision(
            requests=tuple(
                Setpoint(device=box.name, quantity=CHARGING_CURRENT_A, value=10.0, reason="test")
                for box in inputs.state.wallboxes
            ),
            state="active",
        )


@pytest.fixture
def line() -> Iterator[SimulatorHandle]:
    boxes = [{"name": name, "line": "B", "address": 100 + n, "cars": [CAR]} for n, name in enumerate(NAMES)]
    scenario = scenario_from_dict({"battery": None, "pv_peak_w": 0, "wallboxes": boxes})
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False) as sim:
        yield sim


def plant(sim: SimulatorHandle, timeout_s: float = 1.0) -> PlantConfig:
    serial = SerialConfig(port=f"socket://127.0.0.1:{sim.ports['B']}", baudrate=57600, parity="N", stopbits=2)
    boxes = tuple(
        WallboxConfig(name=name, serial=serial, address=100 + n, timeout_s=timeout_s) for n, name in enumerate(NAMES)
    )
    return PlantConfig(
        plant_id=1, name="t", time_zone="Europe/Berlin", installation_position="grid", meter=None, wallboxes=boxes
    )


async def cycles(sim: SimulatorHandle, count: int, config: PlantConfig) -> list[dict[str, object]]:
    runtime = PlantRuntime(config, CounterState(), RecordingPublisher(), (Charge(),), wallbox_factory=connect_wallbox)
    seen = []
    try:
        for k in range(count):
            now = START + dt.timedelta(seconds=k + 1)
            sim.step(now)
            started = time.perf_counter()
            result = await runtime.cycle(now)
            seen.append(
                {
                    "took_s": time.perf_counter() - started,
                    **{box.name: box for box in result.state.wallboxes},
                }
            )
        assert len(open_buses()) == 1, "three boxes, one line, one client"
    finally:
        await runtime.close()
    assert open_buses() == {}, "the last box gone, the line is closed"
    return seen


def test_three_boxes_on_one_line_all_charge_without_a_collision(line: SimulatorHandle) -> None:
    seen = asyncio.run(cycles(line, 4, plant(line)))
    last = seen[-1]
    assert all(last[name].state == "charging" for name in NAMES)  # type: ignore[attr-defined]
    counters = line.line_counters()["B"]
    assert counters["collisions"] == 0 and counters["crc_errors"] == 0
    assert set(counters["per_device"]) == set(NAMES)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("exception", "answered Modbus exception 4 (device failure)"),
        ("wrong_length", "registers for"),
        ("bad_crc", "no answer from"),
        ("wrong_unit", "no answer from"),
        ("offline", "no answer from"),
    ],
)
def test_a_box_answering_garbage_is_in_error_and_the_others_go_on(line: SimulatorHandle, kind, message) -> None:
    line.set_device_fault("b", kind)
    # A generous timeout: a box that answers at all answers within it even when this machine
    # stalls the simulator's thread for a moment (a late answer would meet the next request on
    # the line and count as a collision of the test's own making).
    seen = asyncio.run(cycles(line, 3, plant(line)))
    last = seen[-1]
    broken = last["b"]
    assert broken.state == "error" and not broken.status.online  # type: ignore[attr-defined]
    assert message in broken.status.error and "address 101" in broken.status.error  # type: ignore[attr-defined]
    assert last["a"].state == last["c"].state == "charging"  # type: ignore[attr-defined]
    assert line.line_counters()["B"]["collisions"] == 0


def test_a_silent_box_costs_the_others_no_more_than_its_timeout(line: SimulatorHandle) -> None:
    line.set_device_fault("b", "offline")
    seen = asyncio.run(cycles(line, 3, plant(line, timeout_s=0.3)))
    # Per cycle: b's one unanswered request (0.3 s) and the quiet time after it, plus the line
    # time of a's and c's reads and writes; far below the 3 timeouts each box's read may take.
    assert max(float(s["took_s"]) for s in seen) < 0.9  # type: ignore[arg-type]
    assert seen[-1]["a"].state == "charging"  # type: ignore[attr-defined]


def test_a_device_with_other_settings_cannot_share_the_line() -> None:
    async def run() -> None:
        bus = acquire_bus(SerialConfig(port="socket://127.0.0.1:9", baudrate=57600, stopbits=2))
        try:
            with pytest.raises(Exception, match="driven at 57600 8N2; a device asking for 19200 8E1"):
                acquire_bus(SerialConfig(port="socket://127.0.0.1:9", baudrate=19200, parity="E"))
        finally:
            bus.release()

    asyncio.run(run())
