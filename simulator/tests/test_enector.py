"""The simulated ENECTOR and its vehicles: states, the 2011 event, phases at the grid meter, the
RTU server's robustness, and the scenario keys that describe them."""

from __future__ import annotations

import datetime as dt
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from energy.devices import EVSE_CHARGING, EVSE_IDLE, EVSE_PRECONDITIONS, EVSE_READY
from simulator.enector_rtu import ModbusReply
from simulator.model import PlantModel
from simulator.rtu_line import LineFramer, SerialSettings, crc16, with_crc
from simulator.scenario import CarScenario, ScenarioError, scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox import registers as reg

START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)  # 12:00 in Berlin
BOX = "carport"


def plant(*, box: dict[str, Any] | None = None, cars: list[dict[str, Any]] | None = None, **extra: Any) -> PlantModel:
    scenario = scenario_from_dict(
        {
            "battery": None,
            "pv_peak_w": 0,
            "house_base_w": 300,
            "wallboxes": [{"name": BOX, "cars": cars or [], **(box or {})}],
            **extra,
        }
    )
    return PlantModel(scenario, seed=5, start=START)


def at(model: PlantModel, seconds: float) -> None:
    model.advance(START + dt.timedelta(seconds=seconds))


def heartbeat(model: PlantModel) -> None:
    model.wallbox_write(BOX, reg.HEARTBEAT, [reg.HEARTBEAT_VALUE])


def offer(model: PlantModel, current_a: float) -> None:
    """What the energy manager writes: heartbeat, current limit, release."""
    heartbeat(model)
    model.wallbox_write(BOX, reg.CHARGING_CURRENT_EM, reg.encode_float(current_a))
    model.wallbox_write(BOX, reg.CHARGING_RELEASE, [1])


def truth(model: PlantModel) -> Any:
    return model.wallbox_truths()[BOX]


PLUGGED = {"plug": "11:00", "unplug": "18:00"}  # local times: plugged at START


def test_a_car_needing_8_a_does_not_charge_at_6_a_and_says_why() -> None:
    model = plant(cars=[{**PLUGGED, "min_current_a": 8}])
    offer(model, 6)
    at(model, 1)
    box = truth(model)
    assert not box.charging and box.power_w == 0.0
    assert box.error_code == 2011 and box.evse_state == EVSE_READY
    assert reg.ERROR_TEXTS[2011] == "CP EV out of signaled duty range"
    offer(model, 8)
    at(model, 2)
    box = truth(model)
    assert box.charging and box.error_code == 0
    assert box.box_currents_a == pytest.approx((8.0, 8.0, 8.0))


def test_states_follow_plug_release_and_limit() -> None:
    model = plant(cars=[{"plug": "12:10", "unplug": "12:30"}])
    at(model, 1)
    assert truth(model).evse_state == EVSE_IDLE  # 12:00 local: nobody there yet
    at(model, 595)
    heartbeat(model)
    at(model, 601)
    assert truth(model).evse_state == EVSE_PRECONDITIONS  # plugged, not released
    offer(model, 5.5)  # 0.01-5.99 A means 0 A
    at(model, 602)
    assert truth(model).evse_state == EVSE_PRECONDITIONS
    offer(model, 0)  # 0 means "no limit": the box's maximum
    at(model, 603)
    assert truth(model).evse_state == EVSE_CHARGING and truth(model).offered_a == 16.0
    at(model, 1801)
    assert truth(model).evse_state == EVSE_IDLE  # unplugged at 12:30


def test_dip_switches_cap_the_current() -> None:
    model = plant(box={"dip_max_current_a": 10}, cars=[PLUGGED])
    offer(model, 16)
    at(model, 1)
    assert truth(model).box_currents_a == pytest.approx((10.0, 10.0, 10.0))
    image = model.wallbox_image(BOX)
    assert reg.decode_float([image[reg.MAX_CURRENT_HOUSE], image[reg.MAX_CURRENT_HOUSE + 1]]) == 10.0


def test_a_one_phase_car_on_a_three_phase_box_charges_one_phase() -> None:
    model = plant(cars=[{**PLUGGED, "phases": 1}])
    offer(model, 16)
    at(model, 1)
    box = truth(model)
    assert box.box_currents_a == pytest.approx((16.0, 0.0, 0.0))
    assert box.grid_currents_a == pytest.approx((16.0, 0.0, 0.0))
    assert model.truth().ev_phase_a == pytest.approx((16.0, 0.0, 0.0))


@pytest.mark.parametrize(("rotation", "grid_phase"), [("L1L2L3", 0), ("L2L3L1", 1), ("L3L1L2", 2)])
def test_rotation_puts_the_box_l1_on_its_grid_phase(rotation: str, grid_phase: int) -> None:
    model = plant(box={"rotation": rotation}, cars=[{**PLUGGED, "phases": 1}])
    at(model, 1)
    before = [phase.current_a for phase in model.reading().phases]
    offer(model, 16)
    at(model, 2)
    after = [phase.current_a for phase in model.reading().phases]
    rise = [a - b for a, b in zip(after, before, strict=True)]
    assert rise[grid_phase] == pytest.approx(16.0, abs=0.6)
    assert all(abs(rise[p]) < 0.6 for p in range(3) if p != grid_phase)
    expected = [0.0, 0.0, 0.0]
    expected[grid_phase] = 16.0
    assert model.truth().ev_phase_a == pytest.approx(tuple(expected))


def test_the_grid_meter_sees_a_three_phase_car() -> None:
    model = plant(cars=[PLUGGED])
    at(model, 1)
    before = model.reading().active_power_w
    offer(model, 10)
    at(model, 2)
    assert model.reading().active_power_w - before == pytest.approx(3 * 10 * 230, rel=0.03)
    assert model.flow().wallbox_power_w == pytest.approx(6900)
    assert model.truth().ev_w == pytest.approx(6900)


def test_a_phase_switch_takes_its_time() -> None:
    model = plant(box={"phase_switch_s": 60}, cars=[PLUGGED])
    offer(model, 10)
    at(model, 1)
    model.wallbox_write(BOX, reg.REQUESTED_PHASES, [1])
    at(model, 30)
    heartbeat(model)
    assert truth(model).switching and not truth(model).charging
    at(model, 55)
    heartbeat(model)
    at(model, 62)
    box = truth(model)
    assert box.charging and box.switched_single_phase
    assert box.box_currents_a == pytest.approx((10.0, 0.0, 0.0))


def test_fallback_current_without_heartbeat() -> None:
    model = plant(box={"fallback_current_a": 1}, cars=[PLUGGED])  # 1 = pause
    offer(model, 16)
    at(model, 10)
    assert truth(model).charging
    at(model, 10.5)
    assert truth(model).fallback_active and not truth(model).charging
    heartbeat(model)
    at(model, 11)
    assert truth(model).charging and not truth(model).fallback_active


def test_soc_rises_and_a_full_car_stops() -> None:
    model = plant(cars=[{**PLUGGED, "capacity_wh": 1000, "soc_pct": 90}])
    offer(model, 16)
    for second in range(1, 200):
        at(model, second)
        if second % 5 == 0:
            heartbeat(model)
    box = truth(model)
    assert box.soc_pct == pytest.approx(100.0)
    assert box.vehicle_connected and not box.charging and box.evse_state == EVSE_READY
    assert box.session_energy_wh == pytest.approx(100.0, abs=12.0)


def test_max_power_and_taper() -> None:
    model = plant(cars=[{**PLUGGED, "max_power_w": 4600, "taper_from_soc_pct": 80, "soc_pct": 90}])
    offer(model, 16)
    at(model, 1)
    current = truth(model).box_currents_a[0]
    assert current == pytest.approx(4600 / 690 * 0.5, rel=1e-3)  # power cap, then halfway down the taper


def test_plug_and_unplug_on_command() -> None:
    model = plant()
    heartbeat(model)
    offer(model, 16)
    at(model, 1)
    assert not truth(model).vehicle_connected
    model.plug_car(BOX, CarScenario(phases=1, max_current_a=13, name="zoe"))
    at(model, 2)
    assert truth(model).car == "zoe" and truth(model).box_currents_a == pytest.approx((13.0, 0.0, 0.0))
    model.unplug_car(BOX)
    at(model, 3)
    assert not truth(model).vehicle_connected


def test_address_write_is_refused_while_plugged() -> None:
    model = plant(cars=[PLUGGED])
    at(model, 1)
    with pytest.raises(ModbusReply) as refused:
        model.wallbox_write(BOX, reg.MODBUS_ADDRESS, [100])
    assert refused.value.code == 6 and model.wallbox_address(BOX) == 50


def test_bad_writes_are_refused_and_change_nothing() -> None:
    model = plant(cars=[PLUGGED])
    for address, words in [
        (reg.HEARTBEAT, [1234]),
        (reg.CHARGING_RELEASE, [2]),
        (reg.CHARGING_CURRENT_EM, reg.encode_float(-3.0)),
        (reg.CHARGING_CURRENT_EM, [0x7FC0, 0]),  # NaN
        (reg.MODBUS_ADDRESS, [0]),
        (reg.EVSE_STATE, [5]),
    ]:
        with pytest.raises(ModbusReply):
            model.wallbox_write(BOX, address, words)
    box = truth(model)
    assert not box.released and box.current_limit_a == 0.0 and box.address == 50


# --- the RTU server ------------------------------------------------------------------------
@pytest.fixture
def served() -> Iterator[SimulatorHandle]:
    scenario = scenario_from_dict({"battery": None, "wallboxes": [{"name": BOX}]})
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False) as sim:
        yield sim


def ask(sock: socket.socket, frame: bytes) -> bytes:
    sock.sendall(frame)
    return sock.recv(512)


def read_request(unit: int, start: int, count: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit, 3, start, count))


def test_malformed_frames_do_not_kill_the_box(served: SimulatorHandle) -> None:
    with socket.create_connection(("127.0.0.1", served.ports[BOX]), timeout=2) as sock:
        good = read_request(50, reg.EVSE_STATE, 1)
        broken = bytearray(good)
        broken[-1] ^= 0xFF
        sock.sendall(bytes(broken))  # a wrong CRC: no answer
        sock.sendall(b"\x00\xff\x13\x37" * 20)  # noise
        sock.sendall(with_crc(bytes((50, 0x2B, 0x0E, 0x01, 0x00))))  # an unknown function
        answer = sock.recv(512)
        assert answer == with_crc(bytes((50, 0x2B | 0x80, 1)))  # illegal function
        answer = ask(sock, good)
        assert answer[:3] == bytes((50, 3, 2)) and struct.unpack(">H", answer[3:5])[0] == EVSE_IDLE
        answer = ask(sock, read_request(50, 0x0600, 4))  # no such registers
        assert answer[:3] == bytes((50, 0x83, 2))
        answer = ask(sock, with_crc(bytes((50, 16, 0x0D, 0x05, 0, 2, 3, 0, 1, 0))))  # count and bytes disagree
        assert answer[:3] == bytes((50, 0x90, 3))
        sock.sendall(read_request(7, reg.EVSE_STATE, 1))  # another device on the line: silence
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(512)


def test_framer_finds_a_frame_after_noise() -> None:
    framer = LineFramer(SerialSettings().silence_s)
    frame = read_request(50, 0x0100, 22)
    assert framer.feed(b"\x32\x99" + frame[:5], 0.0) == []
    assert framer.feed(frame[5:], 0.01) == [frame]
    assert framer.feed(frame[:4], 0.02) == []
    assert framer.feed(frame[4:], 1.0) == []  # too late: the first half was line noise


def test_framer_waits_for_a_write_split_before_its_byte_count() -> None:
    """A serial server may pass a write request on in pieces: the head alone is no noise."""
    framer = LineFramer(SerialSettings().silence_s)
    frame = with_crc(bytes((100, 16, 0x0D, 0x05, 0, 2, 4, 0, 1, 0, 2)))
    assert framer.feed(frame[:5], 0.0) == []
    assert framer.feed(frame[5:], 0.01) == [frame]
    assert framer.crc_errors == 0
    assert crc16(b"\x01\x03\x00\x00\x00\x01") == 0x0A84


def test_the_runner_serves_each_box_on_its_own_port_and_pty() -> None:
    scenario = scenario_from_dict({"battery": None, "wallboxes": [{"name": "a"}, {"name": "b", "address": 100}]})
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False, wallbox_pty=True) as sim:
        assert sim.ports["a"] != sim.ports["b"]
        assert set(sim.pty_paths) == {"a", "b"}
        with socket.create_connection(("127.0.0.1", sim.ports["b"]), timeout=2) as sock:
            assert ask(sock, read_request(100, reg.MODBUS_ADDRESS, 1))[3:5] == b"\x00\x64"


# --- scenario keys -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wallboxes", "message"),
    [
        ([{"type": "enector_11"}], r"wallboxes\[0\]\.name: missing"),
        ([{"name": "a", "type": "fast"}], r"wallboxes\[0\]\.type: unknown type 'fast'"),
        ([{"name": "a", "rotation": "L1L3L2"}], r"wallboxes\[0\]\.rotation: unknown rotation"),
        ([{"name": "a", "fallback_current_a": 3}], r"wallboxes\[0\]\.fallback_current_a"),
        ([{"name": "a", "cars": [{"unplug": "12:00"}]}], r"cars\[0\]\.plug: missing"),
        ([{"name": "a", "cars": [{"plug": "12:00", "colour": "red"}]}], r"cars\[0\]\.colour: unknown key"),
        ([{"name": "a", "cars": [{"plug": "12:00", "unplug": "11:00"}]}], r"cars\[0\]\.unplug: must be after"),
        ([{"name": "a", "cars": [{"plug": "12:00", "phases": 2}]}], r"cars\[0\]\.phases: must be 1 or 3"),
        ([{"name": "a", "cars": [{"plug": "12:00", "min_current_a": 10, "max_current_a": 8}]}], "min_current_a"),
        ([{"name": "a", "cars": [{"plug": "10:00", "unplug": "12:00"}, {"plug": "11:00"}]}], "overlap"),
        ([{"name": "a"}, {"name": "a"}], r"wallboxes\[1\]\.name: 'a' is used twice"),
        ([{"name": "meter"}], "reserved"),
    ],
)
def test_bad_wallbox_scenarios_name_the_key(wallboxes: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict({"wallboxes": wallboxes})


def test_wallboxes_replace_the_plain_wallbox() -> None:
    assert scenario_from_dict({"wallboxes": [{"name": "a"}]}).wallbox is None
    assert scenario_from_dict({}).wallbox is not None  # the older single key still works
    with pytest.raises(ScenarioError, match="either"):
        scenario_from_dict({"wallbox": {"phases": 1}, "wallboxes": [{"name": "a"}]})
    with pytest.raises(ScenarioError, match="also an inverter"):
        scenario_from_dict({"inverters": [{"name": "a", "type": "piko_iq"}], "wallboxes": [{"name": "a"}]})


def test_a_visit_can_be_a_full_time() -> None:
    scenario = scenario_from_dict(
        {
            "wallboxes": [
                {"name": "a", "cars": [{"plug": "2025-06-21T10:00:30+00:00", "unplug": "2025-06-21T11:00:00Z"}]}
            ]
        }
    )
    car = scenario.wallboxes[0].cars[0]
    assert isinstance(car.plug, dt.datetime) and car.plug.tzinfo is not None
