"""The ENECTOR driver against the simulated box: Modbus RTU over TCP and over a pty, real frames.

Time is stepped: the simulator runs without its clock, and the driver's clock is the simulated
time, so a heartbeat or a 60 s phase switch takes no wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import math
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.config import CHARGING_CURRENT_A, CHARGING_PHASES, ENECTOR_7_4, WallboxConfig
from energy.devices import EVSE_CHARGING, EVSE_IDLE, EVSE_PRECONDITIONS, WallboxReading
from energy.state import Setpoint
from simulator.enector import WallboxTruth
from simulator.enector_firmware import firmware_image
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox import registers as reg
from wallbox.drivers import (
    EnectorError,
    EnectorWallbox,
    VehiclePluggedIn,
    connect_wallbox,
    move_address,
    read_info,
    restore_factory_address,
    update_firmware,
)
from wallbox.drivers.enector import HEARTBEAT_INTERVAL_S, reading_from_state

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)
BOX = "carport"


def box_scenario(
    *, plugged: bool = True, box_type: str = "enector_11", car: dict[str, object] | None = None
) -> dict[str, Any]:
    cars = [{"plug": "2025-06-21T09:00:00+00:00", "phases": 3, "max_current_a": 16, **(car or {})}] if plugged else []
    return {
        "battery": None,
        "pv_peak_w": 0,
        "wallboxes": [{"name": BOX, "type": box_type, "address": 100, "cars": cars}],
    }


class Rig:
    """A stepped simulator with one box and a driver whose clock is the simulated time.

    The driver lives in one event loop for the whole test, as in the product's device loop.
    """

    def __init__(self, sim: SimulatorHandle, port: str, address: int = 100, box_type: str = "enector_11") -> None:
        self.sim = sim
        self.t_s = 0.0
        self.line = reg.enector_line(port)
        self.loop = asyncio.new_event_loop()
        self.box: EnectorWallbox = connect_wallbox(
            WallboxConfig(name=BOX, type=box_type, serial=self.line, address=address, timeout_s=1.0),
            clock=lambda: self.t_s,
        )

    def step(self, seconds: float = 1.0) -> None:
        self.t_s += seconds
        self.sim.step(START + dt.timedelta(seconds=self.t_s))

    def cycle(self, current_a: float | None = None, phases: int | None = None) -> None:
        """One product cycle one simulated second later: read, then write the setpoints."""
        self.step()
        setpoints = []
        if current_a is not None:
            setpoints.append(Setpoint(device=BOX, quantity=CHARGING_CURRENT_A, value=current_a))
        if phases is not None:
            setpoints.append(Setpoint(device=BOX, quantity=CHARGING_PHASES, value=phases))
        self.loop.run_until_complete(self.box.read())
        self.loop.run_until_complete(self.box.write(setpoints))

    def read(self) -> WallboxReading:
        return self.loop.run_until_complete(self.box.read())

    def close(self) -> None:
        self.box.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    @property
    def truth(self) -> WallboxTruth:
        return self.sim.model.wallbox_truths()[BOX]

    def writes(self) -> list[tuple[int, tuple[int, ...]]]:
        return [(w.address, w.words) for w in self.sim.model.wallbox_writes(BOX)]


@contextlib.contextmanager
def rig_for(scenario: dict[str, Any], *, pty: bool = False) -> Iterator[Rig]:
    with simulator(scenario, pty=pty) as sim:
        port = sim.pty_paths[BOX] if pty else f"socket://127.0.0.1:{sim.ports[BOX]}"
        rig = Rig(sim, port, box_type=scenario["wallboxes"][0].get("type", "enector_11"))
        try:
            yield rig
        finally:
            rig.close()


def simulator(scenario: dict[str, Any], *, pty: bool = False) -> SimulatorHandle:
    return run_simulator_in_thread(scenario=scenario_from_dict(scenario), start=START, clock=False, wallbox_pty=pty)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with rig_for(box_scenario()) as rig:
        yield rig


def test_reads_a_charging_box_over_rtu_over_tcp(rig: Rig) -> None:
    for _ in range(3):
        rig.cycle(current_a=10)
    reading = rig.read()
    assert reading.charging and reading.vehicle_connected
    assert reading.evse_state == EVSE_CHARGING
    assert reading.phase_currents_a == pytest.approx((10.0, 10.0, 10.0))
    assert reading.power_w == pytest.approx(3 * 10 * 230, rel=0.02)
    assert reading.released and reading.current_limit_a == pytest.approx(10.0)
    assert reading.switched_phases == 3 and reading.phase_options == 2
    assert reading.detected_vehicle_phases == 3
    assert reading.max_current_a == 16.0
    assert reading.serial.startswith("ENE") and reading.firmware
    assert not reading.fallback_active


def test_a_live_read_follows_the_current_and_keeps_the_rest_of_the_last_full_read(rig: Rig) -> None:
    # The guard pass's read: state, currents and power now, the session as the cycle read it.
    first_live = rig.loop.run_until_complete(rig.box.read_live())  # no full read yet: a full one
    assert first_live == rig.read()
    for _ in range(3):
        rig.cycle(current_a=16)
    rig.cycle(current_a=8)  # its full read still saw 16 A; the box follows 8 A from now on
    full = rig.read()
    rig.step()  # a second on: the session goes on
    live = rig.loop.run_until_complete(rig.box.read_live())
    fresh = rig.read()
    assert live.phase_currents_a == fresh.phase_currents_a == pytest.approx((8.0, 8.0, 8.0))
    assert live.power_w == fresh.power_w and live.charging and live.evse_state == fresh.evse_state
    assert live.session_energy_wh == full.session_energy_wh < fresh.session_energy_wh
    assert live.serial == fresh.serial and live.released


def test_reads_and_controls_the_box_over_a_pty() -> None:
    with rig_for(box_scenario(), pty=True) as rig:
        assert rig.line.port.startswith("/dev/")
        for _ in range(3):
            rig.cycle(current_a=8)
        reading = rig.read()
    assert reading.charging
    assert reading.phase_currents_a == pytest.approx((8.0, 8.0, 8.0))


def test_a_new_current_reaches_the_car(rig: Rig) -> None:
    rig.cycle(current_a=16)
    rig.cycle(current_a=16)
    assert rig.truth.box_currents_a == pytest.approx((16.0, 16.0, 16.0))
    rig.cycle(current_a=7.5)
    assert rig.truth.box_currents_a == pytest.approx((7.5, 7.5, 7.5))
    # Above the box's maximum the driver writes the maximum.
    rig.cycle(current_a=40)
    assert rig.truth.current_limit_a == 16.0


def test_pause_and_release(rig: Rig) -> None:
    rig.cycle(current_a=10)
    rig.cycle(current_a=10)
    assert rig.truth.charging
    rig.cycle(current_a=0)
    reading = rig.read()
    assert not reading.charging and not reading.released
    assert reading.evse_state == EVSE_PRECONDITIONS and reading.vehicle_connected
    assert reading.current_limit_a == 0.0
    # A pause keeps the limit: writing 0 there would mean "no limit" to the box.
    assert rig.truth.current_limit_a == 10.0
    rig.cycle(current_a=3)  # below 6 A is a pause too
    assert not rig.truth.charging
    rig.cycle(current_a=10)
    assert rig.truth.charging and rig.truth.box_currents_a == pytest.approx((10.0, 10.0, 10.0))


def test_unchanged_setpoints_are_not_written_again(rig: Rig) -> None:
    rig.cycle(current_a=10)
    first = len(rig.writes())
    for _ in range(3):
        rig.cycle(current_a=10.01)  # within the dead band
    later = rig.writes()[first:]
    assert all(address == reg.HEARTBEAT for address, _ in later)


def test_heartbeat_goes_out_at_least_every_five_seconds(rig: Rig) -> None:
    for _ in range(30):
        rig.cycle(current_a=10)
    beats = [w.t_s for w in rig.sim.model.wallbox_writes(BOX) if w.address == reg.HEARTBEAT]
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    assert gaps and max(gaps) <= 5.0
    assert HEARTBEAT_INTERVAL_S <= 5.0


def test_heartbeat_keeps_the_box_out_of_fallback(rig: Rig) -> None:
    for _ in range(40):
        rig.cycle(current_a=10)
        assert not rig.truth.fallback_active
    assert rig.truth.box_currents_a == pytest.approx((10.0, 10.0, 10.0))


def test_without_heartbeat_for_10_s_the_box_charges_with_its_fallback_current(rig: Rig) -> None:
    for _ in range(3):
        rig.cycle(current_a=16)
    # The manager is gone: nothing more is written.
    last_beat_s = max(w.t_s for w in rig.sim.model.wallbox_writes(BOX) if w.address == reg.HEARTBEAT)
    rig.step(last_beat_s - START.timestamp() + 9.5 - rig.t_s)
    assert not rig.truth.fallback_active
    rig.step(1.0)
    assert rig.truth.fallback_active
    assert rig.truth.box_currents_a == pytest.approx((6.0, 6.0, 6.0))  # the scenario's fallback: 6 A
    assert rig.read().fallback_active
    rig.cycle(current_a=16)  # the manager is back: the heartbeat ends the fallback
    assert not rig.truth.fallback_active
    assert rig.truth.box_currents_a == pytest.approx((16.0, 16.0, 16.0))


def test_phase_switch_pauses_then_requests_then_releases(rig: Rig) -> None:
    rig.cycle(current_a=10, phases=3)
    rig.cycle(current_a=10, phases=3)
    assert rig.truth.phases == 3
    start = len(rig.writes())
    rig.cycle(current_a=10, phases=1)  # the box is charging: pause first
    assert not rig.truth.released and not rig.truth.requested_single_phase
    rig.cycle(current_a=10, phases=1)  # paused: request one phase, then release again
    sent = [(address, words) for address, words in rig.writes()[start:] if address != reg.HEARTBEAT]
    assert sent == [
        (reg.CHARGING_RELEASE, (0,)),
        (reg.REQUESTED_PHASES, (1,)),
        (reg.CHARGING_RELEASE, (1,)),
    ]
    assert rig.truth.switching and not rig.truth.charging  # the switch takes its time (60 s here)
    for _ in range(60):
        rig.cycle(current_a=10, phases=1)
    reading = rig.read()
    assert reading.charging and reading.switched_phases == 1
    assert reading.phase_currents_a == pytest.approx((10.0, 0.0, 0.0))


def test_a_single_phase_box_ignores_phase_setpoints() -> None:
    with rig_for(box_scenario(box_type=ENECTOR_7_4, car={"max_current_a": 32})) as rig:
        for _ in range(3):
            rig.cycle(current_a=20, phases=3)
        reading = rig.read()
    assert reading.phase_options == 0 and reading.switched_phases == 1
    assert reading.phase_currents_a == pytest.approx((20.0, 0.0, 0.0))
    assert reading.max_current_a == 32.0


def test_address_moves_from_50_to_100_and_back() -> None:
    with simulator({**box_scenario(plugged=False), "wallboxes": [{"name": BOX}]}) as sim:
        line = reg.enector_line(f"socket://127.0.0.1:{sim.ports[BOX]}")
        info = asyncio.run(move_address(line, 50, 100))
        assert info.address == 100 and info.serial.startswith("ENE") and info.hardware == "0003"
        assert sim.model.wallbox_address(BOX) == 100
        with pytest.raises(EnectorError, match="no answer"):
            asyncio.run(read_info(line, 50))  # nothing answers at 50 any more
        back = asyncio.run(restore_factory_address(line, 100))
        assert back.address == 50 and sim.model.wallbox_address(BOX) == 50


def test_address_move_is_refused_while_a_vehicle_is_plugged_in() -> None:
    scenario = {**box_scenario(), "wallboxes": [{"name": BOX, "cars": [{"plug": "2025-06-21T09:00:00+00:00"}]}]}
    with simulator(scenario) as sim:
        line = reg.enector_line(f"socket://127.0.0.1:{sim.ports[BOX]}")
        with pytest.raises(VehiclePluggedIn, match="vehicle is plugged in"):
            asyncio.run(move_address(line, 50, 100))
        assert sim.model.wallbox_address(BOX) == 50
        sim.model.unplug_car(BOX)
        assert asyncio.run(move_address(line, 50, 100)).address == 100


def test_read_info_names_the_box() -> None:
    with simulator(box_scenario()) as sim:
        info = asyncio.run(read_info(reg.enector_line(f"socket://127.0.0.1:{sim.ports[BOX]}"), 100))
    assert info.firmware == "2023.21.11024-20"
    assert info.layout_version == "1.0.3"
    assert len(info.serial) == 10


def test_firmware_update_installs_the_new_version() -> None:
    with simulator(box_scenario(plugged=False)) as sim:
        line = reg.enector_line(f"socket://127.0.0.1:{sim.ports[BOX]}")
        shares: list[float] = []
        image = firmware_image("2024.5.1", bytes(range(256)) * 8)
        info = asyncio.run(update_firmware(line, 100, image, shares.append))
        assert info.firmware == "2024.5.1"
        assert shares[0] == 0.0 and shares[-1] == 1.0 and shares == sorted(shares)
        with pytest.raises(EnectorError, match="rejected the firmware image"):
            asyncio.run(update_firmware(line, 100, b"this is a photo, not firmware"))
        assert asyncio.run(read_info(line, 100)).firmware == "2024.5.1"
        with pytest.raises(EnectorError, match="empty"):
            asyncio.run(update_firmware(line, 100, b""))


def test_nothing_listening_is_a_clear_error() -> None:
    box = connect_wallbox(WallboxConfig(name=BOX, serial=reg.enector_line("socket://127.0.0.1:1"), timeout_s=0.2))
    with pytest.raises(EnectorError, match=r"127\.0\.0\.1:1"):
        asyncio.run(box.read())


def test_a_box_without_interface_is_refused() -> None:
    with pytest.raises(EnectorError, match="no RS485 interface"):
        connect_wallbox(WallboxConfig(name=BOX))


def test_an_offline_box_is_an_error_not_a_reading(rig: Rig) -> None:
    rig.sim.set_fault("offline", device=BOX)
    with pytest.raises(EnectorError, match=r"lost|cannot open|no answer"):
        rig.read()
    rig.sim.set_fault("none", device=BOX)
    assert rig.read().vehicle_connected


def test_a_damaged_answer_is_an_error(rig: Rig) -> None:
    rig.sim.set_fault("garbage", device=BOX)
    with pytest.raises(EnectorError):
        rig.read()
    rig.sim.set_fault("exception", device=BOX)
    with pytest.raises(EnectorError, match="exception 4"):
        rig.read()


# --- the register map, pure ----------------------------------------------------------------------
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_floats_round_trip_big_endian(value: float) -> None:
    assert reg.decode_float(reg.encode_float(value)) == value


def test_float_word_order_is_high_word_first() -> None:
    assert reg.encode_float(16.0) == [0x4180, 0x0000]


@given(st.binary(max_size=reg.FIRMWARE_CHUNK_MAX_BYTES))
def test_firmware_chunks_round_trip(data: bytes) -> None:
    words = reg.encode_bytes(data)
    assert len(words) <= reg.MAX_WRITE_COUNT
    assert reg.decode_bytes(words) == data


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=16))
def test_texts_round_trip(text: str) -> None:
    assert reg.decode_text(reg.encode_text(text, 8)) == text


def _state(**changes: object) -> reg.BoxState:
    base = reg.BoxState(
        evse_state=EVSE_IDLE,
        cp_state=10,
        signaled_current_a=0.0,
        current_limit_a=0.0,
        max_current_house_a=16.0,
        max_current_evse_a=16.0,
        phase_options=2,
        fallback_current_setting=6,
        grid_phases_connected=2,
        phase_currents_a=(0.0, 0.0, 0.0),
        phase_voltages_v=(230.0, 230.0, 230.0),
        phase_powers_w=(0.0, 0.0, 0.0),
        power_w=0.0,
        session_energy_wh=0.0,
        session_duration_s=0,
        detected_vehicle_phases=0,
        requested_phases=0,
        released=False,
        locked=False,
        error_code=0,
        fallback_active=False,
        switched_phases=0,
        total_energy_wh=1000.0,
    )
    return reg.BoxState(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


def test_state_survives_encoding() -> None:
    state = _state(evse_state=EVSE_CHARGING, phase_currents_a=(8.0, 8.0, 0.0), released=True, current_limit_a=8.0)
    assert reg.decode_state(reg.encode_state(state)) == state


@pytest.mark.parametrize(
    ("register", "words", "message"),
    [
        (reg.EVSE_STATE, [9], "EVSE state 9"),
        (reg.CURRENT_L1, reg.encode_float(math.nan), "current L1"),
        (reg.CURRENT_L1 + 2, reg.encode_float(1e9), "current L2"),
        (reg.CHARGING_RELEASE, [7], "charging release 7"),
        (reg.SWITCHED_PHASES, [2], "switched phases 2"),
    ],
)
def test_implausible_values_are_refused(register: int, words: list[int], message: str) -> None:
    image = reg.encode_state(_state())
    for offset, word in enumerate(words):
        image[register + offset] = word
    with pytest.raises(reg.ImplausibleValue, match=message):
        reg.decode_state(image)


@pytest.mark.parametrize(
    ("state", "box_type", "phases", "connected", "limit"),
    [
        (_state(), "enector_11", 3, False, 0.0),
        (_state(evse_state=EVSE_PRECONDITIONS, current_limit_a=10.0), "enector_11", 3, True, 0.0),
        (_state(evse_state=EVSE_CHARGING, released=True, current_limit_a=10.0), "enector_11", 3, True, 10.0),
        (_state(switched_phases=1), "enector_11", 1, False, 0.0),
        (_state(grid_phases_connected=0, phase_options=0), "enector_3_7", 1, False, 0.0),
    ],
)
def test_reading_from_state(state: reg.BoxState, box_type: str, phases: int, connected: bool, limit: float) -> None:
    reading = reading_from_state(state, WallboxConfig(name=BOX, type=box_type), ("S1", "F1"))
    assert reading.switched_phases == phases
    assert reading.vehicle_connected is connected
    assert reading.current_limit_a == limit
    assert (reading.serial, reading.firmware) == ("S1", "F1")


def test_readable_blocks_cover_what_the_driver_reads() -> None:
    for start, count in (*reg.STATE_BLOCKS, *reg.INFO_BLOCKS):
        assert reg.is_readable(start, count)
    assert not reg.is_readable(0x0600, 1)
    assert struct.calcsize(">f") == 4
