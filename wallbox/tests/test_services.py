"""The wallbox services: setup on the RS485 line against simulated ENECTORs (real RTU frames over
TCP), the records the cycle leaves (sessions, phase switches), and the pure helpers behind them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from energy.state import (
    WALLBOX_CHARGING,
    WALLBOX_NO_VEHICLE,
    WALLBOX_PAUSED,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    PlantState,
    WallboxState,
)
from plant.models import Plant
from simulator.enector_firmware import firmware_image
from simulator.testing import SimulatorHandle
from wallbox import configs, firmware, history, rules, setup
from wallbox.models import ChargingSession, PhaseSwitchEvent, Wallbox
from wallbox.tests.conftest import CAR_3P

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def box_state(
    name: str = "carport",
    *,
    online: bool = True,
    connected: bool = True,
    power_w: float = 0.0,
    phases: int | None = 3,
    energy_wh: float | None = None,
    state: str = WALLBOX_CHARGING,
) -> WallboxState:
    return WallboxState(
        name=name, type="enector_11", status=DeviceStatus(name=name, online=online), state=state,
        mode="power", configured_mode="power", phases=phases, power_w=power_w, vehicle_connected=connected,
        session_energy_wh=energy_wh, phase_currents_a=(power_w / 690, power_w / 690, power_w / 690),
    )  # fmt: skip


def plant_state(plant_id: int, at: dt.datetime, *boxes: WallboxState, grid_w: float | None = 0.0) -> PlantState:
    return PlantState(
        plant_id=plant_id, timestamp=at, sequence=1, meter=None, meter_status=DeviceStatus(name="meter", online=True),
        flow=EnergyFlow(grid_power_w=grid_w, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                        house_power_w=None, wallbox_power_w=None),
        totals=EnergyCounters(), wallboxes=boxes,
    )  # fmt: skip


# --- pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "session_open", "expected"),
    [
        (None, box_state(connected=True), False, history.BoxStep(start_session=True)),
        (box_state(), box_state(connected=False, state=WALLBOX_NO_VEHICLE), True, history.BoxStep(end_session=True)),
        (box_state(), box_state(online=False, connected=False), True, history.BoxStep()),  # offline is not unplugged
        (box_state(phases=1), box_state(phases=3, power_w=0, state=WALLBOX_PAUSED), True,
         history.BoxStep(switched_to_phases=3)),
        (box_state(phases=None), box_state(phases=1), True, history.BoxStep(charging_s=1.0)),  # no switch logged
    ],
)  # fmt: skip
def test_box_step_table(previous, current, session_open, expected):
    assert history.box_step(previous, current, 1.0, 0.0, session_open) == expected


def test_box_step_counts_energy_from_the_box_counter_or_power_and_time():
    by_power = history.box_step(box_state(power_w=7200), box_state(power_w=7200), 1.0, 0.5, True)
    assert by_power.energy_wh == pytest.approx(2.0)
    assert by_power.solar_wh == pytest.approx(1.0)
    assert by_power.charging_s == 1.0
    by_counter = history.box_step(box_state(energy_wh=100.0), box_state(energy_wh=103.0, power_w=7200), 1.0, 0, True)
    assert by_counter.energy_wh == pytest.approx(3.0)
    gap = history.box_step(box_state(power_w=7200), box_state(power_w=7200), 3600.0, 1.0, True)
    assert gap.energy_wh == pytest.approx(7200 * history.MAX_GAP_S / 3600), "a worker outage is not charging"


@given(
    power_w=st.floats(-1e4, 5e4),
    before=st.one_of(st.none(), st.floats(0, 1e5)),
    after=st.one_of(st.none(), st.floats(0, 1e5)),
    elapsed_s=st.floats(-10, 1e5),
    fraction=st.floats(-1, 2),
)
def test_box_step_energy_is_never_negative_and_solar_never_exceeds_it(power_w, before, after, elapsed_s, fraction):
    step = history.box_step(
        box_state(energy_wh=before), box_state(energy_wh=after, power_w=power_w), elapsed_s, fraction, True
    )
    assert step.energy_wh >= 0
    assert 0 <= step.solar_wh <= step.energy_wh + 1e-9


@pytest.mark.parametrize(
    ("charging_w", "grid_w", "expected"),
    [(0, -2000, 0.0), (4000, -1000, 1.0), (4000, 1000, 0.75), (4000, 5000, 0.0), (4000, None, 0.0)],
)
def test_solar_fraction_charges_purchase_to_the_vehicles_first(charging_w, grid_w, expected):
    state = plant_state(1, T0, box_state(power_w=charging_w), grid_w=grid_w)
    assert history.solar_fraction(state) == pytest.approx(expected)


# --- records from the cycle ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_record_cycle_keeps_a_session_and_logs_phase_switches(plant: Plant):
    Wallbox.objects.create(plant=plant, name="carport", interface="A")
    steps = [
        box_state(connected=False, state=WALLBOX_NO_VEHICLE, phases=3),
        box_state(power_w=0, phases=3),
        *[box_state(power_w=3600, phases=3) for _ in range(60)],
        box_state(power_w=0, phases=1, state=WALLBOX_PAUSED),
        *[box_state(power_w=3600, phases=1) for _ in range(60)],
        box_state(connected=False, state=WALLBOX_NO_VEHICLE, phases=1),
    ]
    for second, step in enumerate(steps):
        history.record_cycle(plant.pk, plant_state(plant.pk, T0 + dt.timedelta(seconds=second), step, grid_w=1800))
    session = ChargingSession.objects.get(plant=plant)
    assert session.started == T0 + dt.timedelta(seconds=1)
    assert session.ended == T0 + dt.timedelta(seconds=len(steps) - 1)
    assert session.energy_wh == pytest.approx(120.0)  # 120 s at 3.6 kW
    assert session.solar_share_pct == pytest.approx(50.0)  # 1.8 kW of 3.6 kW came from the grid
    assert session.charging_s == pytest.approx(120.0)
    switch = PhaseSwitchEvent.objects.get(plant=plant)
    assert (switch.wallbox_name, switch.phases, switch.time) == ("carport", 1, T0 + dt.timedelta(seconds=62))
    assert "plugged in 2026-03-02 11:00" in switch.vehicle  # the plant's local time
    log = history.phase_log_text(plant).splitlines()
    assert log[0] == "time\tvehicle\tcharging device\tphase usage selected"
    assert log[1].startswith("2026-03-02 11:01:02 CET\tplugged in 2026-03-02 11:00")
    assert log[1].endswith("\tcarport\tsingle-phase")


@pytest.mark.django_db
def test_a_restarted_worker_continues_the_open_session(plant: Plant):
    history.record_cycle(plant.pk, plant_state(plant.pk, T0, box_state(power_w=0)))
    history._trackers.clear()  # the worker process restarted
    history.record_cycle(plant.pk, plant_state(plant.pk, T0 + dt.timedelta(seconds=1), box_state(power_w=3600)))
    assert ChargingSession.objects.filter(plant=plant).count() == 1


# --- setup on the line (WB-2), against the simulated box ----------------------------------------------


def new_box(plant: Plant, name: str = "Carport", interface: str = "A", **fields) -> Wallbox:
    return Wallbox(plant=plant, name=name, interface=interface, **fields)


@pytest.mark.django_db
def test_setup_moves_a_new_box_from_50_to_100_and_reads_its_info(plant, sim_factory: Callable[..., SimulatorHandle]):
    sim = sim_factory(a={})
    box = new_box(plant)
    message = setup.set_up(box)
    box.save()
    assert sim.model.wallbox_address("a") == 100
    assert (box.address, box.setup) == (100, Wallbox.Setup.DONE)
    assert box.serial_number and box.firmware_version
    assert "RS485 A address 100" in message
    config = configs.wallbox_configs(plant)[0]
    assert config.serial is not None
    assert (config.address, config.serial.port, config.serial.baudrate, config.serial.stopbits) == (
        100, f"socket://127.0.0.1:{sim.ports['a']}", 57600, 2,
    )  # fmt: skip


@pytest.mark.django_db
def test_with_a_vehicle_plugged_in_the_move_waits_and_is_retried_once_unplugged(plant, sim_factory):
    sim = sim_factory(a={"cars": [CAR_3P]})
    box = new_box(plant)
    message = setup.set_up(box)
    box.save()
    assert box.is_pending and "vehicle is plugged in" in message
    assert sim.model.wallbox_address("a") == 50
    assert configs.wallbox_configs(plant)[0].address == 50, "the cycle controls it where it answers"
    assert "still plugged in" in setup.retry_setup(box)
    assert Wallbox.objects.get(pk=box.pk).is_pending
    sim.model.unplug_car("a")
    setup.retry_setup(box)
    stored = Wallbox.objects.get(pk=box.pk)
    assert (stored.setup, stored.address, stored.setup_message) == (Wallbox.Setup.DONE, 100, "")
    assert sim.model.wallbox_address("a") == 100


@pytest.mark.django_db
def test_the_cycle_retries_a_pending_setup_when_the_box_reports_no_vehicle(plant, sim_factory):
    sim = sim_factory(a={"cars": [CAR_3P]})
    box = new_box(plant)
    setup.set_up(box)
    box.save()
    sim.model.unplug_car("a")
    unplugged = box_state("Carport", connected=False, state=WALLBOX_NO_VEHICLE)
    history.record_cycle(plant.pk, plant_state(plant.pk, T0, unplugged))
    assert Wallbox.objects.get(pk=box.pk).setup == Wallbox.Setup.DONE
    assert sim.model.wallbox_address("a") == 100


@pytest.mark.django_db
def test_after_a_factory_reset_of_the_manager_a_box_at_100_is_adopted(plant, sim_factory):
    sim = sim_factory(a={"address": 100})
    box = new_box(plant)
    message = setup.set_up(box)
    assert (box.address, box.setup) == (100, Wallbox.Setup.DONE)
    assert "set up before" in message
    assert sim.model.wallbox_address("a") == 100


@pytest.mark.django_db
def test_a_second_box_on_the_line_gets_101(plant, sim_factory):
    sim_factory(a={})
    Wallbox.objects.create(plant=plant, name="Garage", interface="A", address=100)
    assert rules.next_address("A") == 101


@pytest.mark.django_db
def test_setup_without_an_answer_is_refused_and_names_the_line(plant, settings):
    settings.KSEM_RS485_PORTS = {"A": "socket://127.0.0.1:9"}  # discard port: nothing answers
    with pytest.raises(ValidationError) as refused:
        setup.set_up(new_box(plant))
    assert "No ENECTOR answered on RS485 A at address 50" in " ".join(refused.value.messages)


@pytest.mark.django_db
def test_delete_writes_50_back_and_deletes_anyway_when_the_box_is_silent(plant, sim_factory, settings):
    sim = sim_factory(a={})
    box = new_box(plant)
    setup.set_up(box)
    box.save()
    assert "answers at address 50 again" in setup.remove(box)
    assert sim.model.wallbox_address("a") == 50
    assert not Wallbox.objects.exists()

    silent = Wallbox.objects.create(plant=plant, name="Shed", interface="B", address=100)
    settings.KSEM_RS485_PORTS = {"B": "socket://127.0.0.1:9"}
    message = setup.remove(silent)
    assert "did not answer" in message and "still has address 100" in message
    assert not Wallbox.objects.filter(pk=silent.pk).exists()


@pytest.mark.django_db(transaction=True)  # the update runs in a thread of its own, with its own connection
def test_firmware_update_reports_progress_and_the_new_version(plant, sim_factory):
    sim_factory(a={})
    box = new_box(plant)
    setup.set_up(box)
    box.save()
    firmware.start_firmware_update(box, firmware_image("2025.40.1", b"x" * 3000))
    deadline = time.monotonic() + 60
    while firmware.firmware_progress(box.pk)["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    progress = firmware.firmware_progress(box.pk)
    assert (progress["state"], progress["progress_pct"]) == ("done", 100.0), progress
    assert Wallbox.objects.get(pk=box.pk).firmware_version == "2025.40.1"


@pytest.mark.django_db(transaction=True)
def test_a_rejected_firmware_image_ends_as_a_failure_message(plant, sim_factory):
    sim_factory(a={})
    box = new_box(plant)
    setup.set_up(box)
    box.save()
    firmware.start_firmware_update(box, b"not a firmware image")
    deadline = time.monotonic() + 60
    while firmware.firmware_progress(box.pk)["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    progress = firmware.firmware_progress(box.pk)
    assert progress["state"] == "failed" and "rejected the firmware image" in progress["message"]
    with pytest.raises(ValidationError):
        firmware.start_firmware_update(box, b"")


def test_the_web_process_never_opens_the_line_a_setup_waits_for_the_worker(plant, sim_factory, monkeypatch):
    """Without a worker to run the job, the setup fails with a message saying so, and nothing
    reached the simulated line from this process."""
    from ksem_site.celery import app

    sim = sim_factory(a={"address": 50})
    app.conf.task_always_eager = False  # the autouse fixture puts it back
    monkeypatch.setattr(setup, "SETUP_DEADLINE_S", 0.5)
    with pytest.raises(ValidationError, match="is the worker running"):
        setup.set_up(Wallbox(plant=plant, name="new", interface="A"))
    assert sim.line_counters()["a"]["requests"] == 0


def test_a_setup_runs_as_a_recorded_job(plant, sim_factory):
    from wallbox import jobs

    sim_factory(a={"address": 50})
    keys_before = set(firmware.sync_redis().scan_iter(jobs.job_key("*")))
    box = Wallbox(plant=plant, name="new", interface="A")
    setup.set_up(box)
    records = [jobs.read_job(k.decode().rsplit(":", 1)[1]) for k in firmware.sync_redis().scan_iter(jobs.job_key("*"))]
    new = [r for r in records if r and jobs.job_key(r["id"]).encode() not in keys_before]
    assert [(r["kind"], r["state"]) for r in new] == [("wallbox.device", "done")]
    assert new[0]["result"]["address"] == 100 and box.address == 100


@pytest.mark.django_db
def test_a_steady_cycle_touches_no_database_only_changes_do(plant: Plant, django_assert_max_num_queries):
    """Per-cycle bookkeeping writes only what changed: session start and end, a phase switch,
    the open session's energy once a minute, the look for a due setup every 30 s."""
    Wallbox.objects.create(plant=plant, name="carport", interface="A")
    at = [T0 + dt.timedelta(seconds=s) for s in range(200)]
    history.record_cycle(plant.pk, plant_state(plant.pk, at[0], box_state(power_w=3600, phases=3)))  # starts
    history.record_cycle(plant.pk, plant_state(plant.pk, at[1], box_state(power_w=3600, phases=3)))
    for second in range(2, 59):
        with django_assert_max_num_queries(0):
            history.record_cycle(plant.pk, plant_state(plant.pk, at[second], box_state(power_w=3600, phases=3)))
    with django_assert_max_num_queries(3):  # the minute's energy, in one transaction
        history.record_cycle(plant.pk, plant_state(plant.pk, at[60], box_state(power_w=3600, phases=3)))
    with django_assert_max_num_queries(0):
        history.record_cycle(plant.pk, plant_state(plant.pk, at[61], box_state(power_w=3600, phases=3)))
    history.record_cycle(plant.pk, plant_state(plant.pk, at[62], box_state(power_w=3600, phases=1)))  # a switch
    assert PhaseSwitchEvent.objects.filter(plant=plant).count() == 1
    history.record_cycle(plant.pk, plant_state(plant.pk, at[63], box_state(connected=False, state=WALLBOX_NO_VEHICLE)))
    session = ChargingSession.objects.get(plant=plant)
    assert session.ended == at[63] and session.energy_wh == pytest.approx(62.0)  # 62 s at 3.6 kW


# --- what only the simulated box can do (issue 13.8) ----------------------------------------------


@pytest.mark.django_db
def test_a_real_box_without_the_vendor_block_stays_at_50_and_says_why(plant, sim_factory):
    sim = sim_factory(a={"vendor_block": False})
    box = new_box(plant)
    message = setup.set_up(box)
    box.save()
    assert (box.address, box.setup) == (50, Wallbox.Setup.DONE)
    assert "stays at address 50" in message and "simulated ENECTOR only" in message
    assert sim.model.wallbox_address("a") == 50, "nothing pretended a move"
    assert box.serial_number and box.firmware_over_modbus is False
    # A second new box on that line would answer at 50 as well: refused, with what to do.
    with pytest.raises(ValidationError, match="another box already uses 50"):
        setup.set_up(new_box(plant, name="second"))


@pytest.mark.django_db
def test_no_firmware_upload_is_offered_or_faked_for_a_box_without_the_block(plant, sim_factory):
    sim_factory(a={"vendor_block": False})
    box = new_box(plant)
    setup.set_up(box)
    box.save()
    with pytest.raises(ValidationError, match="no firmware update over Modbus"):
        firmware.start_firmware_update(box, firmware_image("2025.40.1", b"x" * 300))
    assert firmware.firmware_progress(box.pk)["state"] == "idle", "nothing was reported as running"


@pytest.mark.django_db
def test_a_firmware_job_on_a_box_without_the_block_fails_with_the_reason(plant, sim_factory):
    """Info not read yet (the product could not know): the job finds out and says so, never 'done'."""
    sim_factory(a={"vendor_block": False, "address": 100})
    box = Wallbox.objects.create(plant=plant, name="Carport", interface="A", address=100)
    firmware.start_firmware_update(box, firmware_image("2025.40.1", b"x" * 300))
    progress = firmware.firmware_progress(box.pk)
    assert progress["state"] == "failed" and "nothing was sent" in progress["message"]
