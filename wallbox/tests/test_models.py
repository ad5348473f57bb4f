"""The wallbox models and what the cycle loads from them: Time Mode validation, the option gate,
the mains connection, the RS485 handover and ``plant.config.load_config``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from energy.config import HOURLY_MODES, MainsConfig
from modbus.models import SerialInterface
from modbus.services import serial_interfaces
from plant.config import load_config
from plant.models import Plant
from plant.options import WALLBOX, is_option_active, set_option
from wallbox import rules, snapshot
from wallbox.models import MainsSettings, TimeModeSchedule, Wallbox, validate_time_mode

WEEKS = st.lists(st.lists(st.sampled_from(HOURLY_MODES), min_size=24, max_size=24), min_size=7, max_size=7)


@given(WEEKS)
def test_every_week_of_hourly_modes_is_valid_and_survives_the_editor_format(week):
    validate_time_mode(week)
    assert rules.parse_time_mode(rules.format_time_mode(week)) == week


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ([["power"] * 24] * 6, "7 weekdays"),
        ([["power"] * 24] * 6 + [["power"] * 25], "sun of Time Mode needs 24"),
        ([["power"] * 24] * 2 + [["power"] * 5 + ["time_mode"] + ["power"] * 18] + [["power"] * 24] * 4,
         "wed 05:00: 'time_mode' is not one of"),
        ("power", "7 weekdays"),
    ],
)  # fmt: skip
def test_a_bad_week_is_refused_naming_day_and_hour(week, message):
    with pytest.raises(ValidationError) as refused:
        validate_time_mode(week)
    assert message in " ".join(refused.value.messages)


@pytest.mark.django_db
def test_the_option_is_off_until_switched_on():
    plant = Plant.objects.create(name="Home")
    assert not is_option_active(plant, WALLBOX)
    assert not is_option_active(None, WALLBOX)
    set_option(plant, WALLBOX)
    assert is_option_active(Plant.objects.get(pk=plant.pk), WALLBOX)
    with pytest.raises(ValueError, match="unknown option"):
        is_option_active(plant, "teleport")


@pytest.mark.django_db
def test_load_config_carries_boxes_time_mode_and_mains_only_with_the_option(plant: Plant, settings):
    settings.KSEM_RS485_PORTS = {"B": "socket://10.0.0.9:4001"}
    box = Wallbox.objects.create(plant=plant, name="Carport", interface="B", rotation="L2L3L1", phase_usage="auto",
                                 mode="time_mode", min_current_a=8, solar_plus_start="75", manual_pause=True)  # fmt: skip
    week = [["lock"] * 12 + ["solar_pure"] * 12] * 7
    TimeModeSchedule.objects.create(wallbox=box, days=week)
    MainsSettings.objects.create(
        plant=plant, phases=3, fuse_l1_a=35, fuse_l2_a=25, fuse_l3_a=35, unbalance_limit_va=3000
    )
    config = load_config(plant.pk)
    assert config.mains == MainsConfig(phases=3, fuse_a=25.0, unbalance_limit_va=3000.0)
    (loaded,) = config.wallboxes
    assert (loaded.name, loaded.address, loaded.rotation, loaded.phase_usage, loaded.mode) == (
        "Carport", 100, "L2L3L1", "auto", "time_mode",
    )  # fmt: skip
    assert (loaded.min_current_a, loaded.solar_plus.start_power, loaded.manual_pause) == (8.0, "75", True)
    assert loaded.serial is not None and loaded.serial.port == "socket://10.0.0.9:4001"
    assert loaded.time_mode == tuple(tuple(day) for day in week)
    set_option(plant, WALLBOX, active=False)
    assert load_config(plant.pk).wallboxes == ()


@pytest.mark.django_db
def test_a_one_phase_mains_guards_only_l1():
    mains = MainsSettings(phases=1, fuse_l1_a=40, fuse_l2_a=10, fuse_l3_a=10)
    assert mains.smallest_fuse_a == 40


@pytest.mark.django_db
def test_mode_in_force_follows_the_plants_local_time_across_dst(plant: Plant):
    box = Wallbox.objects.create(plant=plant, name="Carport", interface="A", mode="time_mode")
    week = [["power"] * 24 for _ in range(7)]
    week[6][2] = "lock"  # Sunday 02:00 local
    week[6][3] = "solar_pure"
    TimeModeSchedule.objects.create(wallbox=box, days=week)
    # 2026-03-29 is the spring-forward Sunday in Berlin: 01:00 UTC is 03:00 CEST.
    assert snapshot.mode_in_force(box, dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC), "Europe/Berlin") == "solar_pure"
    # 2026-10-25 falls back: 00:30 UTC is 02:30 CEST, 01:30 UTC is 02:30 CET; both are the 02:00 hour.
    for utc_hour in (0, 1):
        moment = dt.datetime(2026, 10, 25, utc_hour, 30, tzinfo=dt.UTC)
        assert snapshot.mode_in_force(box, moment, "Europe/Berlin") == "lock"


@pytest.mark.django_db
def test_a_wallbox_takes_its_rs485_line_from_the_modbus_settings(plant: Plant):
    serial_interfaces()
    SerialInterface.objects.filter(name="B").update(enabled=True)
    box = Wallbox.objects.create(plant=plant, name="Carport", interface="B")
    line = SerialInterface.objects.get(name="B")
    assert (line.held_by, line.enabled) == ("wallbox Carport", False)
    box.delete()
    assert SerialInterface.objects.get(name="B").held_by == ""
