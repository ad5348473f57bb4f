"""The inverter rules (INV-3, INV-4, MET-6) and what the cycle gets from the database (load_config)."""

from __future__ import annotations

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from energy.config import HouseBatteryConfig, SerialConfig
from inverters import services
from inverters.models import Battery, Inverter, PowerSettings
from plant.config import load_config
from plant.models import Plant
from plant.options import BATTERY_MANAGEMENT, set_option

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Rules")


def add(plant: Plant, name: str, type_: str = "piko_iq", **fields) -> Inverter:
    """An inverter as if it had been detected (the rules are what is tested here)."""
    defaults = {"max_ac_w": 10_000.0, "host": "192.0.2.1"}
    if type_ == "piko_mp_plus":
        defaults = {"max_ac_w": 5_000.0, "interface": "B", "address": 10 + Inverter.objects.count()}
    return Inverter.objects.create(plant=plant, name=name, type=type_, **(defaults | fields))


def errors_of(inverter: Inverter) -> dict[str, list[str]]:
    try:
        services.check_inverter(inverter)
    except ValidationError as error:
        return error.message_dict
    return {}


def settings_errors(power: PowerSettings) -> dict[str, list[str]]:
    try:
        services.check_power_settings(power)
    except ValidationError as error:
        return error.message_dict
    return {}


def unlock(plant: Plant) -> PowerSettings:
    set_option(plant, BATTERY_MANAGEMENT)  # as the activation code does (ACT-1)
    return PowerSettings.objects.create(plant=plant)


@pytest.mark.parametrize(
    ("existing", "new", "field", "words"),
    [
        # at most five inverters
        ([("piko_iq", {})] * 5, ("piko_iq", {}), NON_FIELD_ERRORS, "at most 5 inverters"),
        # one battery system per plant
        ([("plenticore", {"with_battery": True})], ("plenticore_bi", {}), NON_FIELD_ERRORS, "at most one"),
        ([("plenticore_bi", {})], ("plenticore", {"with_battery": True}), NON_FIELD_ERRORS, "at most one"),
        # a battery only where the type has a battery input
        ([], ("piko_iq", {"with_battery": True}), "with_battery", "Only a PLENTICORE or a PIKO MP plus"),
        # PIKO MP plus with battery needs battery management unlocked
        ([], ("piko_mp_plus", {"with_battery": True}), "with_battery", "activation code"),
        # RS485: one address per interface
        ([("piko_mp_plus", {"address": 7})], ("piko_mp_plus", {"address": 7}), "address", "already used by"),
        # connection fields of the type
        ([], ("piko_iq", {"host": ""}), "host", "IP address or host name"),
        ([], ("piko_iq", {"host": "not a host!"}), "host", "neither an IP address nor a host name"),
        ([], ("piko_mp_plus", {"interface": ""}), "interface", "RS485 A or B"),
        ([], ("piko_mp_plus", {"address": None}), "address", "RS485 address"),
        # power class of the type
        ([], ("piko_iq", {"power_class": "100"}), "power_class", "not a power class"),
    ],
)
def test_rules_refuse_with_a_message_naming_the_rule(plant, existing, new, field, words):
    for i, (type_, fields) in enumerate(existing):
        add(plant, f"existing {i}", type_, **fields)
    type_, fields = new
    defaults = ({"interface": "B", "address": 99} if type_ == "piko_mp_plus" else {"host": "192.0.2.50"}) | {
        "max_ac_w": 5000.0
    }
    inverter = Inverter(plant=plant, name="new", type=type_, **(defaults | fields))
    errors = errors_of(inverter)
    assert field in errors, errors
    assert words in " ".join(errors[field])


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ([("piko_iq", {})] * 4, ("piko_iq", {})),  # the fifth
        ([("plenticore", {"with_battery": True})], ("plenticore", {})),  # a second PLENTICORE without battery
        ([("piko_mp_plus", {"address": 7, "interface": "A"})], ("piko_mp_plus", {"address": 7})),  # other bus
        ([], ("piko_ci", {})),  # monitored only, but may be added
        ([], ("piko_iq", {"host": "fd00::71"})),
        ([], ("piko_iq", {"host": "inverter-1.local"})),
    ],
)
def test_allowed_combinations_pass(plant, existing, new):
    for i, (type_, fields) in enumerate(existing):
        add(plant, f"existing {i}", type_, **fields)
    type_, fields = new
    defaults = {"interface": "B", "address": 99} if type_ == "piko_mp_plus" else {"host": "192.0.2.50"}
    assert errors_of(Inverter(plant=plant, name="new", type=type_, max_ac_w=5000.0, **(defaults | fields))) == {}


def test_piko_mp_plus_battery_with_battery_management_unlocked(plant):
    unlock(plant)
    inverter = Inverter(plant=plant, name="mp", type="piko_mp_plus", max_ac_w=3600, interface="B", address=1,
                        with_battery=True)  # fmt: skip
    assert errors_of(inverter) == {}
    assert inverter.category == Inverter.Category.PHOTOVOLTAIC_BATTERY
    assert inverter.connection == Inverter.Connection.RS485


def test_editing_an_inverter_does_not_count_it_twice(plant):
    for i in range(5):
        add(plant, f"inv {i}")
    existing = Inverter.objects.get(name="inv 0")
    existing.max_ac_w = 8000
    assert errors_of(existing) == {}


def test_the_name_is_unique_per_plant(plant):
    add(plant, "roof")
    assert "already has an inverter named roof" in errors_of(Inverter(plant=plant, name="roof", type="piko_iq",
                                                                      max_ac_w=1, host="h"))["name"][0]  # fmt: skip
    other = Plant.objects.create(name="Neighbour")
    assert errors_of(Inverter(plant=other, name="roof", type="piko_iq", max_ac_w=1, host="h")) == {}


def test_category_and_connection_follow_the_type(plant):
    cases = {
        ("plenticore", False): ("photovoltaic", "tcp"),
        ("plenticore", True): ("photovoltaic_battery", "tcp"),
        ("plenticore_bi", False): ("battery", "tcp"),
        ("piko_ci", False): ("photovoltaic", "tcp"),
        ("piko_mp_plus", False): ("photovoltaic", "rs485"),
    }
    for (type_, with_battery), expected in cases.items():
        inverter = Inverter(type=type_, with_battery=with_battery)
        inverter.derive()
        assert (inverter.category, inverter.connection) == expected
    assert Inverter(type="piko_ci").controllable is False
    assert Inverter(type="piko_epc").controllable is True


@pytest.mark.parametrize(
    ("mode", "value", "generator_w", "expected_w"),
    [("pct", 60, 10_000, 6000), ("pct", 0, 10_000, 0), ("pct", 100, 7_500, 7500), ("w", 4000, 10_000, 4000),
     ("w", 12_000, 10_000, 10_000), ("w", 500, 0, 0)],
)  # fmt: skip
def test_limit_in_percent_is_converted_to_watts(mode, value, generator_w, expected_w):
    assert PowerSettings(limit_mode=mode, limit_value=value).limit_w(generator_w) == pytest.approx(expected_w)


@pytest.mark.parametrize(
    ("position", "inverters", "settings", "field", "words"),
    [
        ("home", [("piko_iq", {})], {"feed_in_limit_enabled": True}, "feed_in_limit_enabled", "grid connection point"),
        ("home", [], {"battery_management_enabled": True},
         "battery_management_enabled", "home-consumption position"),
        ("grid", [], {"battery_management_enabled": True}, "battery_management_enabled", "activation code"),
        ("grid", [("piko_iq", {})], {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 101},
         "limit_value", "between 0 and 100"),
        ("grid", [("piko_iq", {})], {"feed_in_limit_enabled": True, "limit_mode": "w", "limit_value": 10_001},
         "limit_value", "10000 W"),
        ("grid", [("piko_iq", {}), ("plenticore", {"with_battery": True})],
         {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 49}, "limit_value", "50 %"),
        ("grid", [("piko_iq", {}), ("plenticore", {"with_battery": True})],
         {"feed_in_limit_enabled": True, "limit_mode": "w", "limit_value": 9_999}, "limit_value", "10000 W of 20000 W"),
        ("grid", [("piko_ci", {})], {"feed_in_limit_enabled": True}, "feed_in_limit_enabled", "PIKO CI itself"),
        ("grid", [], {"feed_in_limit_enabled": True, "limit_value": 0}, "feed_in_limit_enabled", "Add the inverters"),
        ("grid", [], {"min_soc_pct": 80, "max_soc_pct": 20}, "min_soc_pct", "below the maximum"),
    ],
)  # fmt: skip
def test_power_settings_rules(plant, position, inverters, settings, field, words):
    plant.installation_position = position
    plant.save()
    for i, (type_, fields) in enumerate(inverters):
        add(plant, f"inv {i}", type_, **fields)
    errors = settings_errors(PowerSettings(plant=plant, **settings))
    assert field in errors, errors
    assert words in " ".join(errors[field])


@pytest.mark.parametrize(
    ("inverters", "settings"),
    [
        ([("piko_iq", {}), ("plenticore", {"with_battery": True})],
         {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 50}),
        ([("plenticore", {"with_battery": True})],  # a battery system alone: no floor
         {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 0}),
        ([("piko_iq", {}), ("piko_epc", {})], {"feed_in_limit_enabled": True, "limit_mode": "w", "limit_value": 0}),
        ([("piko_iq", {}), ("piko_ci", {})], {"feed_in_limit_enabled": True, "limit_mode": "pct", "limit_value": 70}),
        ([], {"feed_in_limit_enabled": False, "limit_mode": "w", "limit_value": 5000}),  # off: kept as entered
    ],
)  # fmt: skip
def test_allowed_power_settings_pass(plant, inverters, settings):
    for i, (type_, fields) in enumerate(inverters):
        add(plant, f"inv {i}", type_, **fields)
    assert settings_errors(PowerSettings(plant=plant, **settings)) == {}


def test_a_new_inverter_may_not_push_the_limit_below_the_50_percent_floor(plant):
    add(plant, "hybrid", "plenticore", with_battery=True)
    PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=True, limit_mode="w", limit_value=6000)
    # 6000 W of 10000 W is fine alone; with a second 10 kW inverter it would be 30 %.
    errors = errors_of(Inverter(plant=plant, name="second", type="piko_iq", max_ac_w=10_000, host="192.0.2.9"))
    assert "50 %" in errors[NON_FIELD_ERRORS][0]


def test_load_config_gives_the_cycle_inverters_in_order_with_their_batteries(plant):
    unlock(plant).__class__.objects.filter(plant=plant).update(
        feed_in_limit_enabled=True, limit_mode="pct", limit_value=60, battery_management_enabled=True,
        min_soc_pct=10, max_soc_pct=90,
    )  # fmt: skip
    mp = add(plant, "mp", "piko_mp_plus", address=3, interface="B", with_battery=True, position=2, max_ac_w=5000)
    Battery.objects.create(inverter=mp, type="byd_hvs", modules=3, capacity_wh=7680, max_charge_w=7680,
                           max_discharge_w=7680)  # fmt: skip
    add(plant, "roof", "plenticore", host="fd00::1", port=1502, unit_id=71, position=1, max_ac_w=10_000, timeout_s=0.4)

    config = load_config(plant.pk)

    roof, mp_config = config.inverters
    assert (roof.name, roof.type, roof.host, roof.port, roof.unit_id, roof.timeout_s, roof.serial, roof.battery) == (
        "roof",
        "plenticore",
        "fd00::1",
        1502,
        71,
        0.4,
        None,
        None,
    )
    assert mp_config.unit_id == 3
    assert isinstance(mp_config.serial, SerialConfig)
    assert (mp_config.serial.baudrate, mp_config.serial.parity, mp_config.serial.stopbits) == (19200, "E", 1)
    assert mp_config.battery == HouseBatteryConfig(type="byd_hvs", modules=3, capacity_wh=7680, max_charge_w=7680,
                                                   max_discharge_w=7680)  # fmt: skip
    assert config.generator_power_w == 15_000
    assert config.feed_in_limit.enabled is True
    assert config.feed_in_limit.limit_w == pytest.approx(9000)  # 60 % of 15 kW
    assert config.battery_management.enabled is True
    assert (config.battery_management.min_soc_pct, config.battery_management.max_soc_pct) == (10, 90)


def test_load_config_switches_both_off_in_the_home_position_whatever_is_stored(plant):
    add(plant, "roof")
    set_option(plant, BATTERY_MANAGEMENT)
    PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=True, battery_management_enabled=True)
    plant.installation_position = "home"
    plant.save()
    config = load_config(plant.pk)
    assert config.feed_in_limit.enabled is False
    assert config.battery_management.enabled is False


def test_load_config_without_settings_has_everything_off(plant):
    config = load_config(plant.pk)
    assert config.inverters == ()
    assert config.feed_in_limit.enabled is False
    assert config.battery_management.enabled is False
    assert config.battery_management.min_soc_pct == 5
    assert config.battery_management.max_soc_pct == 100


def test_battery_defaults_come_from_type_and_modules():
    assert services.battery_defaults("byd_hvs", 2) == {"capacity_wh": 5120, "max_charge_w": 5120,
                                                        "max_discharge_w": 5120}  # fmt: skip
    with pytest.raises(ValueError, match="modules"):
        services.battery_defaults("byd_hvs", 9)


def test_rs485_addresses_are_unique_per_interface_in_the_database_too(plant):
    from django.db import IntegrityError, transaction

    add(plant, "a", "piko_mp_plus", interface="B", address=5)
    add(plant, "b", "piko_mp_plus", interface="A", address=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        add(plant, "c", "piko_mp_plus", interface="B", address=5)
