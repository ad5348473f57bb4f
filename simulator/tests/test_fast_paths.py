"""The simulator's shortcuts answer exactly what the long way answers.

A replay's trace must not change by a byte when the simulator gets cheaper: the meter's
sections give the words of the whole image, the physics memo kept after a step holds what the
physics gives, and the server's register core answers every request as pymodbus' own does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from inverters import registers as kostal
from simulator.grid_meter import METER_RANGES, GridMeterRegisters, build_meter_image
from simulator.house import Household
from simulator.inverters import KostalInverterRegisters, _same_value
from simulator.model import PlantModel
from simulator.pv import PvArray
from simulator.scenario import BatteryConfig, Scenario, scenario_from_dict
from simulator.server import _RegisterCore

NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)
PLANT: dict[str, Any] = {
    "cloudiness": 0.5,
    "battery": None,
    "wallbox": None,
    "inverters": [
        {"name": "roof south", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 12000, "battery": True},
        {"name": "garage", "type": "piko_epc", "max_ac_w": 5500},
        {
            "name": "shed",
            "type": "piko_mp_plus",
            "max_ac_w": 3600,
            "pv_peak_w": 3000,
            "battery": {"capacity_wh": 5000, "max_power_w": 2500, "min_soc_pct": 10, "max_soc_pct": 90},
        },
    ],
}


def plant() -> Scenario:
    return scenario_from_dict(PLANT)


def _changes(model: PlantModel) -> list[Callable[[], object]]:
    """Steps and writes as a replay makes them, whole and fractional seconds."""
    return [
        lambda: model.advance(NOON + dt.timedelta(seconds=1)),
        lambda: model.write_inverter_limit("garage", 40.0),
        lambda: model.advance(NOON + dt.timedelta(seconds=2)),
        lambda: model.write_inverter_battery("roof south", -1500.0),
        lambda: model.advance(NOON + dt.timedelta(seconds=2.5)),
        lambda: model.add_house_phase_load(2000.0, 0.0, 0.0),
        lambda: model.advance(NOON + dt.timedelta(seconds=3)),
        lambda: model.write_inverter_limit("shed", 10.0),
        lambda: model.write_inverter_limit("roof south", 60.0),
        lambda: model.advance(NOON + dt.timedelta(seconds=7)),
        lambda: model.override(frequency_hz=50.2),
        lambda: model.advance(NOON + dt.timedelta(seconds=8)),
    ]


def test_the_meters_sections_hold_the_words_of_the_whole_image() -> None:
    model = PlantModel(plant(), seed=3, start=NOON)
    meter = GridMeterRegisters(model)
    addresses = [start + i for start, count in METER_RANGES for i in range(count)]
    for change in [lambda: None, *_changes(model)]:
        change()
        image = build_meter_image(model)
        # Single registers, in an order that builds the sections one after another.
        assert [meter.words(a, 1)[0] for a in reversed(addresses)] == [image[a] for a in reversed(addresses)]
        for start, count in METER_RANGES:
            for first in range(start, start + count, 37):
                n = min(125, start + count - first)
                assert meter.words(first, n) == [image.get(a, 0) for a in range(first, first + n)]
        assert meter.image() == image


def test_the_powers_kept_after_a_step_are_those_the_physics_gives() -> None:
    model = PlantModel(plant(), seed=3, start=NOON)
    kept_after = []
    for change in _changes(model):
        change()
        kept = dict(model._powers_memo)
        kept_after.append(bool(kept))
        for t_s, powers in kept.items():
            assert powers == model._physics_at(t_s)
    # Whole-second steps and writes keep them; a step within the second and an override do not.
    assert kept_after == [True, True, True, True, False, True, True, True, True, True, False, True]


def _devices(readonly: bool, calls: list[tuple[Any, ...]]) -> list[SimDevice]:
    async def action(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        calls.append((function_code, start_address, address, count, None if set_values is None else list(set_values)))
        if address == 13:
            return ExcCodes.ILLEGAL_VALUE
        if set_values is None:
            offset = address - start_address
            registers[offset : offset + count] = [(a * 7) & 0xFFFF for a in range(address, address + count)]
        return None

    async def unknown(*args: Any) -> ExcCodes | None:
        calls.append(("unknown", *args[:4]))
        return ExcCodes.GATEWAY_NO_RESPONSE

    ranges = ((2, 20), (30, 5), (35, 3), (100, 10))
    blocks = [
        SimData(start, count=count, values=0, datatype=DataType.REGISTERS, readonly=readonly) for start, count in ranges
    ]
    return [
        SimDevice(1, simdata=list(blocks), action=action),
        SimDevice(71, simdata=list(blocks), action=action),
        SimDevice(0, simdata=list(blocks), action=unknown),
    ]


@pytest.mark.parametrize("readonly", [False, True])
async def test_the_register_core_answers_as_pymodbus_does(readonly: bool) -> None:
    calls: list[tuple[Any, ...]] = []
    fast_calls: list[tuple[Any, ...]] = []
    plain, fast = SimCore(_devices(readonly, calls)), _RegisterCore(_devices(readonly, fast_calls))
    addresses = [0, 1, 2, 5, 12, 13, 20, 21, 22, 25, 29, 30, 33, 34, 35, 37, 38, 99, 100, 105, 109, 110, 111]
    for unit, function_code, address, count in itertools.product(
        (1, 71, 5), (1, 3, 4, 6, 16, 23), addresses, (1, 2, 3, 8, 125)
    ):
        got = await fast.async_getValues(unit, function_code, address, count)
        assert got == await plain.async_getValues(unit, function_code, address, count)
        values = [(address + i) & 0xFFFF for i in range(count)]
        if function_code in (6, 16, 23):
            assert await fast.async_setValues(unit, function_code, address, list(values)) == (
                await plain.async_setValues(unit, function_code, address, list(values))
            )
    assert fast_calls == calls
    for unit in (0, 1, 71):
        assert fast.devices[unit].block == plain.devices[unit].block


def test_one_inverters_output_is_its_entry_in_all_outputs() -> None:
    model = PlantModel(plant(), seed=3, start=NOON)
    for change in [lambda: None, *_changes(model)]:
        change()
        outputs = model.inverter_outputs()
        assert {name: model.inverter_output(name) for name in model.inverter_names} == outputs


def test_the_kostal_words_kept_per_register_are_those_encode_gives() -> None:
    model = PlantModel(plant(), seed=3, start=NOON)
    source = KostalInverterRegisters(model, "roof south")
    for n, change in enumerate([lambda: None, *_changes(model)]):
        change()
        if n == 6:
            assert source.write(5, [1])  # ABCD from now on
        if n == 9:
            assert source.write(5, [0])
        built = source.build()  # with the words kept from the builds before
        # What build() gave before it kept words: kostal.encode of all the values.
        source._encode = lambda values: kostal.encode(values, source.word_order)  # type: ignore[method-assign]
        try:
            assert built == source.build()
        finally:
            del source._encode
    assert _same_value(-0.0, 0.0) is False
    assert _same_value(float("nan"), float("nan")) is False
    assert _same_value(1, 1.0) is False
    assert _same_value(2.5, 2.5) is True


def test_the_last_values_kept_by_time_are_those_computed_afresh() -> None:
    house, fresh_house = Household(3, 400.0), Household(3, 400.0)
    array = PvArray(3, 9000.0, 0.6, 51.0, 10.0)
    fresh_array = PvArray(3, 9000.0, 0.6, 51.0, 10.0)
    clear = dataclasses.replace(array, cloudiness=0.0, _cloud_cache={})
    start = NOON.timestamp()
    for t_s in (start, start, start + 0.5, start + 1.0, start + 1.0, start + 3600.0, start + 1.0):
        assert house.load(t_s) == fresh_house._load(t_s)
        assert array.power_w(t_s) == fresh_array._power_w(t_s)
        assert clear.power_w(t_s) == PvArray(3, 9000.0, 0.0, 51.0, 10.0)._power_w(t_s)


def test_an_inverters_battery_follows_its_soc_window() -> None:
    model = PlantModel(plant(), seed=3, start=NOON)
    shed = model._inverter("shed")
    assert shed.battery == BatteryConfig(5000, 2500, min_soc_pct=10, max_soc_pct=90)
    model.write_inverter_battery_limits("shed", min_soc_pct=20.0, max_soc_pct=80.0)
    assert shed.battery == BatteryConfig(5000, 2500, min_soc_pct=20, max_soc_pct=80)
    model.write_inverter_battery_limits("shed", min_soc_pct=0.0, max_soc_pct=100.0)
    assert shed.battery == BatteryConfig(5000, 2500, min_soc_pct=10, max_soc_pct=90)
