"""A device can fail in any way and the plant goes on (issue 13, part 6).

The running cycle against the simulator over real sockets, stepped clock: one device (the grid
meter or an inverter) answers garbage of each kind; that device shows in error with a message a
person can read, the others keep their values, the controllers decide and the state is published;
when the garbage stops, the device comes back. A driver that raises something no driver should
(a decode error, a bug) is caught the same way, for the wallbox too.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import pytest

from energy.config import (
    FeedInLimitSettings,
    InverterConfig,
    KsemTcpConfig,
    PlantConfig,
    Sdm630Config,
    WallboxConfig,
)
from energy.counters import CounterState
from energy.devices import WallboxReading
from energy.state import Setpoint
from inverters.drivers import connect_inverter
from plant.cycle import PlantRuntime
from plant.testing import RecordingPublisher, ScriptedInverter, ScriptedMeter, scripted
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread

NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)
# Generous: the garbage must arrive within it even on a busy machine (the simulator runs in a thread
# on real time); the kinds that answer too few bytes cost the whole timeout per faulty cycle.
TIMEOUT_S = 1.0
PLANT: dict[str, Any] = {
    "cloudiness": 0,
    "battery": None,
    "wallbox": None,
    "inverters": [
        {"name": "south", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 12000},
        {"name": "garage", "type": "piko_epc", "max_ac_w": 5500, "pv_peak_w": 6000},
    ],
}
# Every kind of garbage the simulator's TCP servers answer, and what the device then shows.
GARBAGE = {
    "wrong_length": r"^unreadable answer: \d+ bytes that are no valid reply within 1 s$",
    "truncated": r"^unreadable answer: \d+ bytes that are no valid reply within 1 s$",
    "wrong_unit": r"^unreadable answer: \d+ bytes that are no valid reply within 1 s$",
    "oversized": r"answered \d+ registers for \d+ at \d+$",
    "garbage": r"answered \d+ registers for \d+ at \d+$",
    "corrupt": r"^implausible |^no SunSpec marker|^unreadable answer \(OverflowError",
    "exception": r"Modbus exception 4",
}


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=3, scenario=scenario_from_dict(PLANT), start=NOON, clock=False) as handle:
        yield handle


def plant_config(sim: SimulatorHandle) -> PlantConfig:
    def inverter(name: str, kind: str, max_ac_w: float, unit_id: int) -> InverterConfig:
        return InverterConfig(
            name=name,
            type=kind,
            max_ac_w=max_ac_w,
            host=sim.host,
            port=sim.ports[name],
            unit_id=unit_id,
            timeout_s=TIMEOUT_S,
        )

    return PlantConfig(
        plant_id=1,
        name="garbage",
        time_zone="Europe/Berlin",
        installation_position="grid",
        meter=KsemTcpConfig(host=sim.host, port=sim.port, unit_id=1, timeout_s=TIMEOUT_S),
        inverters=(inverter("south", "plenticore", 10000, 71), inverter("garage", "piko_epc", 5500, 1)),
        # Low enough that the plant feeds in more: the feed-in controller must keep limiting.
        feed_in_limit=FeedInLimitSettings(enabled=True, limit_w=1000),
    )


class Plant:
    """The running cycle, stepped one simulated second per cycle."""

    def __init__(self, sim: SimulatorHandle) -> None:
        self.sim = sim
        self.publisher = RecordingPublisher()
        self.t = NOON
        self.runtime = PlantRuntime(
            plant_config(sim),
            CounterState(),
            self.publisher,
            inverter_factory=partial(connect_inverter, clock=self._simulated_s),
        )

    def _simulated_s(self) -> float:
        return (self.t - NOON).total_seconds()

    async def cycle(self) -> Any:
        self.t += dt.timedelta(seconds=1)
        self.sim.step(self.t)
        return (await self.runtime.cycle(self.t)).state


def status_of(state: Any, device: str) -> Any:
    if device == "meter":
        return state.meter_status
    return next(inv.status for inv in state.inverters if inv.name == device)


def assert_carries_on(state: Any, faulty: str) -> None:
    """Everything but the faulty device has its values; the controllers decided; nothing failed."""
    if faulty != "meter":
        assert state.meter_status.online and state.meter is not None
        assert state.flow.grid_power_w is not None
    for inverter in state.inverters:
        if inverter.name != faulty:
            assert inverter.status.online, f"{inverter.name}: {inverter.status.error}"
            assert inverter.ac_power_w is not None and inverter.ac_power_w > 0
    controllers = {status.name: status for status in state.controllers}
    assert controllers, "the controllers ran"
    assert all(status.state != "failed" for status in controllers.values()), controllers


@pytest.mark.parametrize("device", ["meter", "south", "garage"])
@pytest.mark.parametrize("kind", list(GARBAGE))
async def test_a_device_answering_garbage_is_in_error_and_the_plant_goes_on(
    sim: SimulatorHandle, device: str, kind: str
) -> None:
    plant = Plant(sim)
    try:
        healthy = await plant.cycle()
        assert status_of(healthy, device).online
        assert_carries_on(healthy, faulty="")

        sim.set_fault(kind, device=device)
        for _ in range(2):
            published_before = len(plant.publisher.states)
            state = await plant.cycle()
            assert len(plant.publisher.states) == published_before + 1, "the state was published"
            status = status_of(state, device)
            assert not status.online
            assert status.error is not None
            assert re.search(GARBAGE[kind], status.error), status.error
            assert "Traceback" not in status.error and "<" not in status.error
            assert_carries_on(state, faulty=device)
            if device == "meter":
                assert state.meter is None and state.flow.grid_power_w is None
            else:
                faulty = next(inv for inv in state.inverters if inv.name == device)
                assert faulty.ac_power_w is None
                assert all(s.device != device for s in state.setpoints), "no setpoint for a device in error"

        sim.set_fault("none", device=device)
        recovered = await plant.cycle()
        assert status_of(recovered, device).online, status_of(recovered, device).error
        assert_carries_on(recovered, faulty="")
    finally:
        await plant.runtime.close()


class RaisingMeter(ScriptedMeter):
    def __init__(self, exc: Exception) -> None:
        super().__init__(grid_w=-3000)
        self.exc: Exception | None = exc

    async def read(self) -> Any:
        if self.exc is not None:
            raise self.exc
        return await super().read()


class RaisingWallbox:
    """A wallbox driver that raises what no driver should: the cycle must catch it at the call site."""

    name = "carport"

    def __init__(self, exc: Exception | None) -> None:
        self.exc = exc

    async def read(self) -> WallboxReading:
        if self.exc is not None:
            raise self.exc
        return WallboxReading(evse_state=1, vehicle_connected=False, charging=False)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        if self.exc is not None:
            raise self.exc

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (struct.error("unpack requires a buffer of 4 bytes"), "unreadable answer: unpack requires a buffer of 4 bytes"),
        (ValueError("could not convert 'x'"), "unreadable answer (ValueError: could not convert 'x')"),
        (IndexError("list index out of range"), "unreadable answer (IndexError: list index out of range)"),
        (UnicodeDecodeError("ascii", b"\xff", 0, 1, "bad"), "unreadable answer (UnicodeDecodeError:"),
        (RuntimeError("bug"), "driver error (RuntimeError: bug)"),
        (ConnectionResetError(104, "reset"), "connection to "),
    ],
)
async def test_any_exception_of_a_driver_marks_only_that_device(exc: Exception, message: str) -> None:
    south = ScriptedInverter("south", ac_power_w=5000)
    west = ScriptedInverter("west", ac_power_w=4000)
    box = RaisingWallbox(exc)
    meter = RaisingMeter(exc)
    config = PlantConfig(
        plant_id=1,
        name="raising",
        time_zone="Europe/Berlin",
        installation_position="grid",
        meter=None,
        inverters=(
            InverterConfig(name="south", type="plenticore", max_ac_w=10000, timeout_s=0.2),
            InverterConfig(name="west", type="piko_iq", max_ac_w=5000, timeout_s=0.2),
        ),
        wallboxes=(WallboxConfig(name="carport", type="enector_11", serial=None, timeout_s=0.2),),
        feed_in_limit=FeedInLimitSettings(enabled=True, limit_w=1000),
    )
    west_raising = ScriptedInverter("west", ac_power_w=4000)

    async def broken_read() -> Any:
        raise exc

    west_raising.read = broken_read  # type: ignore[method-assign]
    publisher = RecordingPublisher()
    runtime = PlantRuntime(
        config,
        CounterState(),
        publisher,
        meter=meter,
        inverter_factory=scripted({"south": south, "west": west_raising}),
        wallbox_factory=lambda _config: box,
    )
    state = (await runtime.cycle(NOON)).state
    assert publisher.states == [state]
    assert not state.meter_status.online and state.meter_status.error.startswith(message)
    inverters = {inv.name: inv for inv in state.inverters}
    assert inverters["south"].status.online and inverters["south"].ac_power_w == 5000
    assert not inverters["west"].status.online and inverters["west"].status.error.startswith(message)
    (carport,) = state.wallboxes
    assert not carport.status.online and carport.status.error.startswith(message)
    assert south.written, "the healthy inverter still gets its setpoints"
    assert all(status.state != "failed" for status in state.controllers)

    # The failure stops: every device is back with the next cycle.
    meter.exc, box.exc = None, None
    west_raising.read = west.read  # type: ignore[method-assign]
    state = (await runtime.cycle(NOON + dt.timedelta(seconds=1))).state
    assert state.meter_status.online
    assert all(inv.status.online for inv in state.inverters)
    assert state.wallboxes[0].status.online
    await runtime.close()


@pytest.mark.parametrize("kind", ["bad_crc", "wrong_unit", "truncated", "oversized", "corrupt"])
async def test_an_rtu_meter_answering_garbage_is_in_error_until_it_stops(kind: str) -> None:
    """The SDM630 (Modbus RTU over TCP): a bad CRC and the other kinds, through the running cycle."""
    with run_simulator_in_thread(seed=4, start=NOON, clock=False, sdm630_port=0) as sim:
        meter = Sdm630Config(port=f"socket://127.0.0.1:{sim.ports['sdm630']}", timeout_s=TIMEOUT_S)
        config = PlantConfig(
            plant_id=2, name="rtu", time_zone="Europe/Berlin", installation_position="grid", meter=meter
        )
        publisher = RecordingPublisher()
        runtime = PlantRuntime(config, CounterState(), publisher)
        try:
            assert (await runtime.cycle(NOON)).state.meter_status.online
            sim.set_fault(kind, device="sdm630")
            state = (await runtime.cycle(NOON + dt.timedelta(seconds=1))).state
            assert not state.meter_status.online
            assert re.search(
                r"^unreadable answer|^SDM630 answered \d+ registers|^implausible", state.meter_status.error
            )
            assert publisher.states[-1] is state and state.controllers
            sim.set_fault("none", device="sdm630")
            assert (await runtime.cycle(NOON + dt.timedelta(seconds=2))).state.meter_status.online
        finally:
            await runtime.close()
