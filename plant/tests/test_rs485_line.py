"""Every RTU device on one RS485 line, read by the product's own cycle through the line's one owner.

An SDM630 grid meter, a PIKO MP plus on RS485 and two ENECTORs hang on ONE simulated multi-drop
line (over a TCP serial server, and over a pty), each answering only its own address at the line's
byte time. The cycle reads them all at once, many times, and writes the inverter's limit and the
boxes' currents: the simulated line counts no collision and no CRC error, and the product holds one
bus for the line. A device asking for other serial settings than the line's is refused with a
message naming both, while the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from energy.config import (
    ACTIVE_POWER_LIMIT_PCT,
    CHARGING_CURRENT_A,
    InverterConfig,
    PlantConfig,
    Sdm630Config,
    SerialConfig,
    WallboxConfig,
)
from energy.control import Decision, Inputs
from energy.counters import CounterState
from energy.state import PlantState, Setpoint
from meter.drivers import meter_driver
from meter.drivers.ksem_tcp import MeterError
from plant.cycle import PlantRuntime
from plant.testing import RecordingPublisher
from rtubus.bus import open_buses
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox.drivers import connect_wallbox

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)  # noon in Berlin: the inverter produces
CAR = {"plug": "00:00:00", "phases": 3, "max_current_a": 16}
BOXES = ("a", "b")
INVERTER = "mp"
INVERTER_ADDRESS = 2  # the SDM630 answers at 1
LIMIT_PCT = 80.0


class ChargeAndLimit:
    """Asks every box for 10 A and every inverter for 80 %: writes on the line every cycle."""

    name = "charge and limit"

    def decide(self, inputs: Inputs) -> Decision:
        boxes = [
            Setpoint(device=box.name, quantity=CHARGING_CURRENT_A, value=10.0, reason="test")
            for box in inputs.state.wallboxes
        ]
        limits = [
            Setpoint(device=inverter.name, quantity=ACTIVE_POWER_LIMIT_PCT, value=LIMIT_PCT, reason="test")
            for inverter in inputs.state.inverters
        ]
        return Decision(requests=(*boxes, *limits), state="active")


@pytest.fixture(params=["socket", "pty"])
def line(request: pytest.FixtureRequest) -> Iterator[tuple[SimulatorHandle, str]]:
    boxes = [{"name": name, "line": "B", "address": 100 + n, "cars": [CAR]} for n, name in enumerate(BOXES)]
    inverters = [{"name": INVERTER, "type": "piko_mp_plus", "max_ac_w": 5000, "line": "B", "address": INVERTER_ADDRESS}]
    scenario = scenario_from_dict({"battery": None, "wallboxes": boxes, "inverters": inverters})
    pty = request.param == "pty"
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False, wallbox_pty=pty, sdm630_line="B") as sim:
        port = sim.pty_paths["sdm630"] if pty else f"socket://127.0.0.1:{sim.ports['B']}"
        yield sim, port


def plant(port: str, *, inverter_line: SerialConfig | None = None) -> PlantConfig:
    # Timeouts of 1 s: no device here is slow, and a machine that stalls the simulator's thread
    # for a moment must not turn a late answer into a collision with the next request.
    serial = SerialConfig(port=port, baudrate=57600, parity="N", stopbits=2)
    return PlantConfig(
        plant_id=1,
        name="t",
        time_zone="Europe/Berlin",
        installation_position="grid",
        meter=Sdm630Config(port=port, unit_id=1, baudrate=57600, parity="N", stopbits=2, timeout_s=1.0),
        inverters=(
            InverterConfig(
                name=INVERTER,
                type="piko_mp_plus",
                max_ac_w=5000,
                serial=inverter_line or serial,
                unit_id=INVERTER_ADDRESS,
                timeout_s=1.0,
            ),
        ),
        wallboxes=tuple(
            WallboxConfig(name=name, serial=serial, address=100 + n, timeout_s=1.0) for n, name in enumerate(BOXES)
        ),
    )


async def cycles(sim: SimulatorHandle, count: int, config: PlantConfig) -> tuple[list[PlantState], dict]:
    runtime = PlantRuntime(
        config, CounterState(), RecordingPublisher(), (ChargeAndLimit(),), wallbox_factory=connect_wallbox
    )
    states = []
    try:
        for k in range(count):
            now = START + dt.timedelta(seconds=k + 1)
            sim.step(now)
            states.append((await runtime.cycle(now)).state)
        buses = open_buses()
    finally:
        await runtime.close()
    assert open_buses() == {}, "every device gone, the line is closed"
    return states, buses


def test_meter_inverter_and_boxes_share_one_line_without_a_collision(line: tuple[SimulatorHandle, str]) -> None:
    sim, port = line
    states, buses = asyncio.run(cycles(sim, 15, plant(port)))
    for state in states:
        assert state.meter_status.online, state.meter_status.error
        assert all(inverter.status.online for inverter in state.inverters), [i.status for i in state.inverters]
        assert all(box.status.online for box in state.wallboxes), [b.status for b in state.wallboxes]
    last = states[-1]
    assert last.meter is not None and last.meter.frequency_hz == pytest.approx(50.0, abs=0.5)
    (inverter,) = last.inverters
    assert inverter.ac_power_w is not None and inverter.ac_power_w > 0
    assert sim.model.inverter_outputs()[INVERTER].limit_pct == LIMIT_PCT, "the limit went over the shared line"
    assert all(box.state == "charging" for box in last.wallboxes)
    counters = sim.line_counters()["B"]
    assert counters["collisions"] == 0 and counters["crc_errors"] == 0
    assert set(counters["per_device"]) == {"sdm630", INVERTER, *BOXES}
    assert list(buses) == [port], "four devices, one line, one client"
    assert buses[port]["users"] == 4 and buses[port]["failed"] == 0


def test_an_inverter_asking_for_other_line_settings_is_refused_naming_both(line: tuple[SimulatorHandle, str]) -> None:
    sim, port = line
    # The PIKO MP plus's own preset, 19200 8E1, on a line the meter and the boxes drive at 57600 8N2
    # (the meter is read first, so the line is the meter's when the inverter asks).
    other = SerialConfig(port=port, baudrate=19200, parity="E", stopbits=1)
    states, _buses = asyncio.run(cycles(sim, 2, plant(port, inverter_line=other)))
    (inverter,) = states[-1].inverters
    assert not inverter.status.online
    assert f"{port} is driven at 57600 8N2; a device asking for 19200 8E1 cannot share it" in inverter.status.error
    assert states[-1].meter_status.online
    assert all(box.state == "charging" for box in states[-1].wallboxes)
    assert sim.line_counters()["B"]["collisions"] == 0


def test_an_sdm630_asking_for_other_line_settings_is_refused_naming_both(line: tuple[SimulatorHandle, str]) -> None:
    sim, port = line

    async def run() -> str:
        box = connect_wallbox(WallboxConfig(name="a", serial=plant(port).wallboxes[0].serial, address=100))
        meter = meter_driver(Sdm630Config(port=port))  # the SDM630's factory settings: 9600 8N1
        try:
            await box.read()
            with pytest.raises(MeterError) as refused:
                await meter.read()
            await box.read()  # the box goes on
            return str(refused.value)
        finally:
            meter.close()
            box.close()

    sim.step(START)
    assert f"{port} is driven at 57600 8N2; a device asking for 9600 8N1 cannot share it" in asyncio.run(run())
