"""The wallbox pages as people use them (server-rendered): the option gate, devices, charging,
Time Mode, mains, firmware, sessions and the phase-switching log; operators change charging only."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from energy.config import BatteryUse
from energy.state import (
    WALLBOX_PAUSED,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    MeterReading,
    PhaseReading,
    PlantState,
    Timer,
    WallboxState,
)
from plant.models import Plant
from plant.options import WALLBOX, set_option
from simulator.enector_firmware import firmware_image
from tests.pages import by_testid, publish, text_of
from wallbox import configs
from wallbox.models import ChargingSession, MainsSettings, PhaseSwitchEvent, TimeModeSchedule, Wallbox
from wallbox.tests.conftest import CAR_3P

pytestmark = pytest.mark.django_db


def saved_box(plant: Plant, name: str = "Carport", **fields) -> Wallbox:
    return Wallbox.objects.create(plant=plant, name=name, interface=fields.pop("interface", "A"), **fields)


def phase(current_a: float) -> PhaseReading:
    return PhaseReading(230.0, current_a, current_a * 230, 0.0, current_a * 230, 1.0)


def publish_box(plant: Plant, box: WallboxState, grid_a: tuple[float, float, float] = (20.0, 12.0, 12.0)) -> None:
    meter = MeterReading(
        active_power_w=0, reactive_power_var=0, apparent_power_va=0, power_factor=1, frequency_hz=50,
        phases=(phase(grid_a[0]), phase(grid_a[1]), phase(grid_a[2])), energy=EnergyCounters(),
        phase_energy=(EnergyCounters(), EnergyCounters(), EnergyCounters()),
    )  # fmt: skip
    publish(
        PlantState(
            plant_id=plant.pk, timestamp=dt.datetime.now(dt.UTC), sequence=1, meter=meter,
            meter_status=DeviceStatus(name="meter", online=True),
            flow=EnergyFlow(grid_power_w=500, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                            house_power_w=None, wallbox_power_w=box.power_w),
            totals=EnergyCounters(), wallboxes=(box,),
        )
    )  # fmt: skip


PAUSED_BY_CLOUDS = WallboxState(
    name="Carport", type="enector_11", status=DeviceStatus(name="Carport", online=True), state=WALLBOX_PAUSED,
    mode="solar_pure", configured_mode="time_mode", phases=1, power_w=0.0, vehicle_connected=True,
    phase_currents_a=(8.0, 0.0, 0.0), session_energy_wh=2500.0,
    reason="cloud hysteresis: no surplus for 5 min, resumes no sooner than 8 min later",
    timers=(Timer(name="resume", seconds_left=312.0),),
)  # fmt: skip


# --- the option gate (WB-1) ---------------------------------------------------------------------------


def test_without_the_option_there_is_no_menu_and_no_page(installer: Client, plant: Plant):
    set_option(plant, WALLBOX, active=False)
    dashboard = installer.get("/").content.decode()
    with pytest.raises(AssertionError):
        by_testid(dashboard, "menu-wallbox")
    for path in ("/wallbox/", "/wallbox/add/", "/wallbox/settings/", "/wallbox/phase_switching_log.txt"):
        assert installer.get(path).status_code == 404, path
    assert installer.post("/wallbox/settings/", {"phases": 1}).status_code == 404
    assert not MainsSettings.objects.exists()


def test_with_the_option_the_menu_leads_to_the_wallbox(installer: Client, plant: Plant):
    _, link = by_testid(installer.get("/").content.decode(), "menu-wallbox")
    assert link["href"] == "/wallbox/"
    page = installer.get("/wallbox/").content.decode()
    assert by_testid(page, "menu-wallbox")[1]["aria-current"] == "page"
    assert "No charging device has been added yet" in text_of(page, "no-wallboxes")


# --- devices (WB-2) ---------------------------------------------------------------------------------------


def test_installer_adds_a_box_which_is_moved_to_100(installer: Client, plant: Plant, sim_factory):
    sim = sim_factory(a={})
    response = installer.post("/wallbox/add/", {"type": "enector_11", "name": "Carport", "interface": "A"})
    assert response.status_code == 302, response.content.decode()
    box = Wallbox.objects.get()
    assert (box.address, box.setup, sim.model.wallbox_address("a")) == (100, "done", 100)
    page = installer.get("/wallbox/").content.decode()
    assert text_of(page, f"wallbox-address-{box.pk}") == "RS485 A - 100"
    assert text_of(page, f"wallbox-serial-{box.pk}") == box.serial_number != ""
    assert "set up at RS485 A address 100" in page


def test_a_box_with_a_vehicle_plugged_in_is_saved_as_setup_pending(installer: Client, plant: Plant, sim_factory):
    sim_factory(a={"cars": [CAR_3P]})
    installer.post("/wallbox/add/", {"type": "enector_11", "name": "Carport", "interface": "A"})
    box = Wallbox.objects.get()
    page = installer.get("/wallbox/").content.decode()
    assert text_of(page, f"wallbox-status-{box.pk}") == "Setup pending"
    assert text_of(page, f"wallbox-address-{box.pk}") == "RS485 A - 50"
    assert "until it is unplugged" in text_of(page, f"wallbox-setup-{box.pk}")
    by_testid(page, f"retry-setup-{box.pk}")


def test_a_box_that_does_not_answer_is_not_saved(installer: Client, plant: Plant, settings):
    settings.KSEM_RS485_PORTS = {"B": "socket://127.0.0.1:9"}
    response = installer.post("/wallbox/add/", {"type": "enector_7_4", "name": "Shed", "interface": "B"})
    assert response.status_code == 200
    assert "No ENECTOR answered on RS485 B" in text_of(response.content.decode(), "form-error")
    assert not Wallbox.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"type": "enector_11", "name": "", "interface": "A"}, "name", "required"),
        ({"type": "fast", "name": "X", "interface": "A"}, "type", "not one of the available choices"),
        ({"type": "enector_11", "name": "X", "interface": "C"}, "interface", "not one of the available choices"),
    ],
)
def test_add_form_errors_name_the_field_and_save_nothing(installer: Client, plant: Plant, data, field, message):
    page = installer.post("/wallbox/add/", data).content.decode()
    assert message in text_of(page, f"error-{field}")
    assert not Wallbox.objects.exists()


def test_edit_changes_name_rotation_and_phases_and_refuses_a_single_phase_type_on_three(installer, plant):
    box = saved_box(plant)
    data = {"name": "Garage", "interface": "A", "rotation": "L2L3L1", "phase_usage": "auto", "min_current_a": "8"}
    assert installer.post(f"/wallbox/{box.pk}/edit/", data).status_code == 302
    box.refresh_from_db()
    assert (box.name, box.rotation, box.phase_usage, box.min_current_a) == ("Garage", "L2L3L1", "auto", 8.0)
    single = saved_box(plant, "Shed", type="enector_7_4", phase_usage="single", interface="B")
    page = installer.post(f"/wallbox/{single.pk}/edit/", data | {"name": "Shed", "interface": "B"}).content.decode()
    assert "charges on one phase only" in text_of(page, "error-phase_usage")
    page = installer.post(f"/wallbox/{box.pk}/edit/", data | {"min_current_a": "20"}).content.decode()
    assert "less than or equal to 16" in text_of(page, "error-min_current_a")
    single.refresh_from_db()
    box.refresh_from_db()
    assert (single.phase_usage, box.min_current_a) == ("single", 8.0)


def test_delete_of_a_silent_box_deletes_it_and_says_so(installer: Client, plant: Plant, settings):
    settings.KSEM_RS485_PORTS = {"A": "socket://127.0.0.1:9"}
    box = saved_box(plant)
    assert installer.get(f"/wallbox/{box.pk}/delete/").status_code == 200
    page = installer.post(f"/wallbox/{box.pk}/delete/", follow=True).content.decode()
    assert "did not answer" in page and "still has address 100" in page
    assert not Wallbox.objects.exists()


def test_operator_reads_but_may_not_change_devices_or_mains(operator: Client, plant: Plant):
    box = saved_box(plant)
    page = operator.get("/wallbox/").content.decode()
    with pytest.raises(AssertionError):
        by_testid(page, "add-wallbox")
    assert operator.get("/wallbox/add/").status_code == 403
    assert operator.post("/wallbox/add/", {"type": "enector_11", "name": "X", "interface": "B"}).status_code == 403
    assert operator.post(f"/wallbox/{box.pk}/edit/", {"name": "Y", "interface": "A"}).status_code == 403
    assert operator.post(f"/wallbox/{box.pk}/delete/").status_code == 403
    assert operator.post("/wallbox/settings/", {"phases": 1, "fuse_l1_a": 63}).status_code == 403
    assert operator.get(f"/wallbox/{box.pk}/firmware/").status_code == 403
    assert "Only an installer" in text_of(operator.get("/wallbox/settings/").content.decode(), "read-only")
    assert Wallbox.objects.get().name == "Carport" and not MainsSettings.objects.exists()


# --- charging (WB-3, WB-5) -----------------------------------------------------------------------------


def test_charging_page_shows_status_reason_and_countdown(operator: Client, plant: Plant):
    box = saved_box(plant)
    publish_box(plant, PAUSED_BY_CLOUDS)
    page = operator.get(f"/wallbox/{box.pk}/").content.decode()
    assert text_of(page, "vehicle") == "Vehicle connected"
    assert by_testid(page, "box-state")[1]["data-state"] == "paused"
    assert "cloud hysteresis" in text_of(page, "reason")
    assert by_testid(page, "timer-1")[1]["data-countdown"] == "312"
    assert text_of(page, "session-energy") == "2.50 kWh"


def test_operator_pauses_and_restarts_charging(operator: Client, plant: Plant):
    box = saved_box(plant)
    operator.post(f"/wallbox/{box.pk}/pause/", {"action": "pause"})
    assert Wallbox.objects.get().manual_pause
    assert configs.wallbox_configs(plant)[0].manual_pause
    page = operator.get(f"/wallbox/{box.pk}/").content.decode()
    assert "Paused by hand" in text_of(page, "paused-by-user")
    operator.post(f"/wallbox/{box.pk}/pause/", {"action": "resume"})
    assert not Wallbox.objects.get().manual_pause


def test_operator_chooses_solar_plus_with_start_power_and_share(operator: Client, plant: Plant):
    box = saved_box(plant)
    data = {"mode": "solar_plus", "battery_use_solar_plus": "on", "solar_plus_start": "50",
            "solar_plus_min_share_pct": "60"}  # fmt: skip
    assert operator.post(f"/wallbox/{box.pk}/", data).status_code == 302
    box.refresh_from_db()
    assert (box.mode, box.battery_use_solar_plus, box.solar_plus_start, box.solar_plus_min_share_pct) == (
        "solar_plus", True, "50", 60.0,
    )  # fmt: skip
    page = operator.get(f"/wallbox/{box.pk}/").content.decode()
    assert "5.52 kW" in text_of(page, "solar-plus-values")  # 50 % of 11 kW for a 3-phase vehicle
    assert "3.31 kW" in text_of(page, "solar-plus-values")  # 60 % of it as surplus before it starts


def test_the_house_battery_setting_of_each_mode_is_stored_shown_and_reaches_the_cycle(operator: Client, plant: Plant):
    box = saved_box(plant)
    data = {"mode": "time_mode", "battery_use_power": "on", "battery_use_solar_plus": "on",
            "solar_plus_start": "min", "solar_plus_min_share_pct": "50"}  # fmt: skip
    assert operator.post(f"/wallbox/{box.pk}/", data).status_code == 302
    box.refresh_from_db()
    assert (box.battery_use_power, box.battery_use_solar_pure, box.battery_use_solar_plus) == (True, False, True)
    assert configs.wallbox_configs(plant)[0].battery_use == BatteryUse(power=True, solar_pure=False, solar_plus=True)
    page = operator.get(f"/wallbox/{box.pk}/").content.decode()
    section = text_of(page, "battery-use")
    for label in ("Use the house battery", "in Power Mode", "in Solar Pure Mode", "in Solar Plus Mode"):
        assert label in section
    checked = re.findall(r'name="(battery_use_\w+)"[^>]*checked', page)
    assert sorted(checked) == ["battery_use_power", "battery_use_solar_plus"]


def test_a_bad_charging_setting_names_the_field_and_changes_nothing(operator: Client, plant: Plant):
    box = saved_box(plant)
    page = operator.post(f"/wallbox/{box.pk}/", {"mode": "turbo", "solar_plus_start": "min",
                                                 "solar_plus_min_share_pct": "150"}).content.decode()  # fmt: skip
    assert "not one of the available choices" in text_of(page, "error-mode")
    assert "less than or equal to 100" in text_of(page, "error-solar_plus_min_share_pct")
    box.refresh_from_db()
    assert (box.mode, box.solar_plus_min_share_pct) == ("power", 50.0)


def test_time_mode_week_is_saved_and_a_bad_one_refused(operator: Client, plant: Plant):
    box = saved_box(plant)
    day = ["power"] * 8 + ["lock"] * 4 + ["solar_pure"] + ["power"] * 11
    grid = ";".join([",".join(day)] * 7)
    assert operator.post(f"/wallbox/{box.pk}/time-mode/", {"days": grid}).status_code == 302
    assert TimeModeSchedule.objects.get(wallbox=box).days == [day] * 7
    page = operator.get(f"/wallbox/{box.pk}/").content.decode()
    assert by_testid(page, "time-mode-grid")  # the editor renders
    assert 'data-mode="lock"' in page
    response = operator.post(f"/wallbox/{box.pk}/time-mode/", {"days": grid.replace("solar_pure", "boost", 1)})
    assert response.status_code == 400
    assert "'boost' is not one of" in text_of(response.content.decode(), "error-days")
    short = operator.post(f"/wallbox/{box.pk}/time-mode/", {"days": ";".join([",".join(day)] * 6)})
    assert "7 weekdays" in text_of(short.content.decode(), "error-days")
    assert TimeModeSchedule.objects.get(wallbox=box).days == [day] * 7


# --- views, mains, log, sessions, firmware ---------------------------------------------------------------------


def test_overview_shows_charging_power_quota_phase_load_and_unbalance(installer: Client, plant: Plant):
    MainsSettings.objects.create(plant=plant, fuse_l1_a=25, fuse_l2_a=35, fuse_l3_a=35)
    saved_box(plant)
    charging = WallboxState(
        name="Carport", type="enector_11", status=DeviceStatus(name="Carport", online=True), state="charging",
        mode="power", configured_mode="power", phases=1, power_w=3680.0, vehicle_connected=True,
        phase_currents_a=(16.0, 0.0, 0.0),
    )  # fmt: skip
    publish_box(plant, charging, grid_a=(26.0, 4.0, 3.0))
    page = installer.get("/wallbox/").content.decode()
    assert text_of(page, "total-charging") == "3.68 kW"
    assert text_of(page, "power-quota") == "17.25 kW"  # 3 x 25 A x 230 V: the smallest fuse guards all
    assert "is-over" in by_testid(page, "phase-row-1")[1]["class"]
    assert "Unbalance caused by charging: 3680 VA of 4600 VA" in text_of(page, "unbalance")
    by_testid(page, "phase-load-chart")


def test_installer_sets_the_mains_and_a_bad_value_changes_nothing(installer: Client, plant: Plant):
    data = {"phases": "3", "fuse_l1_a": "35", "fuse_l2_a": "35", "fuse_l3_a": "50", "unbalance_limit_va": "4600"}
    assert installer.post("/wallbox/settings/", data).status_code == 302
    assert configs.mains_config(plant).fuse_a == 35.0
    page = installer.post("/wallbox/settings/", data | {"fuse_l1_a": "0", "phases": "2"}).content.decode()
    assert "greater than or equal to 6" in text_of(page, "error-fuse_l1_a")
    assert "not one of the available choices" in text_of(page, "error-phases")
    assert MainsSettings.objects.get().fuse_l1_a == 35.0


def test_phase_switching_log_downloads_as_a_text_file(operator: Client, plant: Plant):
    box = saved_box(plant)
    PhaseSwitchEvent.objects.create(plant=plant, wallbox=box, wallbox_name="Carport", vehicle="plugged in",
                                    time=dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC), phases=3)  # fmt: skip
    response = operator.get("/wallbox/phase_switching_log.txt")
    assert response["Content-Disposition"] == 'attachment; filename="phase_switching_log.txt"'
    lines = response.content.decode().splitlines()
    assert lines[1] == "2026-07-01 12:00:00 CEST\tplugged in\tCarport\tstandard (3-phase)"


def test_sessions_list_energy_duration_and_solar_share(operator: Client, plant: Plant):
    start = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)
    session = ChargingSession.objects.create(
        plant=plant, wallbox_name="Carport", started=start, ended=start + dt.timedelta(hours=2, minutes=5),
        energy_wh=12_340, solar_wh=9_255,
    )  # fmt: skip
    page = operator.get("/wallbox/sessions/").content.decode()
    assert text_of(page, f"session-energy-{session.pk}") == "12.34 kWh"
    assert text_of(page, f"session-duration-{session.pk}") == "2:05 h"
    assert text_of(page, f"session-solar-{session.pk}") == "75 %"


@pytest.mark.django_db(transaction=True)
def test_firmware_upload_runs_with_progress_and_refuses_an_empty_file(installer: Client, plant: Plant, sim_factory):
    sim_factory(a={})
    installer.post("/wallbox/add/", {"type": "enector_11", "name": "Carport", "interface": "A"})
    box = Wallbox.objects.get()
    empty = installer.post(f"/wallbox/{box.pk}/firmware/", {"firmware": SimpleUploadedFile("fw.bin", b"")})
    assert empty.status_code == 400
    image = SimpleUploadedFile("fw.bin", firmware_image("2025.41.7", b"y" * 2000))
    response = installer.post(
        f"/wallbox/{box.pk}/firmware/", {"firmware": image}, headers={"accept": "application/json"}
    )
    assert response.status_code == 202
    deadline = time.monotonic() + 60
    progress = response.json()
    while progress["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        progress = installer.get(f"/wallbox/{box.pk}/firmware/progress/").json()
    assert progress["state"] == "done", progress
    page = installer.get("/wallbox/").content.decode()
    assert text_of(page, f"wallbox-firmware-{box.pk}") == "2025.41.7"
