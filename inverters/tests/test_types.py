"""The type table and the battery table: what the settings pages and the drivers rely on."""

from __future__ import annotations

import pytest

from energy import config
from inverters.batteries import BATTERY_TYPES, battery_for
from inverters.types import CATEGORY_BATTERY, INVERTER_TYPES, PROTOCOL_KOSTAL, PROTOCOL_SUNSPEC, inverter_type


def test_every_product_type_has_power_classes_in_ascending_order() -> None:
    assert set(INVERTER_TYPES) == set(config.INVERTER_TYPES)
    for kind in INVERTER_TYPES.values():
        powers = [p.max_ac_w for p in kind.power_classes]
        assert powers == sorted(powers) and powers[0] > 0, kind.key


def test_power_classes_carry_their_ac_output() -> None:
    assert inverter_type(config.PLENTICORE).power_class("8.5").max_ac_w == 8500
    assert inverter_type(config.PIKO_CI).power_class("100").max_ac_w == 100_000
    assert inverter_type(config.PIKO_MP_PLUS).power_class("3.6-2").max_ac_w == 3600
    assert inverter_type(config.PIKO_EPC).power_class_for(17_000) is not None
    with pytest.raises(ValueError, match=r"unknown power class '11'.*known: 3.0"):
        inverter_type(config.PIKO_IQ).power_class("11")


def test_only_the_piko_ci_is_monitored_only_and_protocols_match_the_config() -> None:
    assert [k for k, t in INVERTER_TYPES.items() if not t.controllable] == [config.PIKO_CI]
    assert {k for k, t in INVERTER_TYPES.items() if t.protocol == PROTOCOL_KOSTAL} == config.KOSTAL_MAP_TYPES
    assert INVERTER_TYPES[config.PIKO_MP_PLUS].protocol == PROTOCOL_SUNSPEC
    assert INVERTER_TYPES[config.PLENTICORE_BI].category == CATEGORY_BATTERY


def test_unknown_type_is_named() -> None:
    with pytest.raises(ValueError, match="unknown inverter type 'sma'"):
        inverter_type("sma")


@pytest.mark.parametrize(
    ("kind", "modules", "capacity_wh", "power_w"),
    [
        ("byd_hvs", 2, 5120, 5120),  # 1 C
        ("byd_hvs", 5, 12_800, 12_800),
        ("byd_hvm", 3, 8280, 7680),  # 153.6 V x 50 A, a little under 1 C
        ("byd_hvm", 8, 22_080, 20_480),
    ],
)
def test_battery_capacity_and_power_from_the_module_count(
    kind: str, modules: int, capacity_wh: float, power_w: float
) -> None:
    battery = battery_for(kind, modules)
    assert battery.capacity_wh == pytest.approx(capacity_wh)
    assert battery.max_charge_w == pytest.approx(power_w)
    assert battery.max_discharge_w == pytest.approx(power_w)
    assert battery.type == kind and battery.modules == modules


def test_every_module_count_in_range_gives_at_most_one_c() -> None:
    for kind in BATTERY_TYPES.values():
        for modules in range(kind.min_modules, kind.max_modules + 1):
            battery = battery_for(kind.key, modules)
            assert 0 < battery.max_charge_w <= battery.capacity_wh


@pytest.mark.parametrize(
    ("kind", "modules", "message"),
    [
        ("byd_hvs", 1, "HVS: 1 modules; it takes 2 to 5"),
        ("byd_hvm", 9, "HVM: 9 modules; it takes 3 to 8"),
        ("tesla", 2, "unknown battery type 'tesla'"),
    ],
)
def test_impossible_batteries_are_refused(kind: str, modules: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        battery_for(kind, modules)
