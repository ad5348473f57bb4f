"""The plant physics alone: properties over arbitrary time sequences, and the daily shape."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy.state import EnergyCounters, MeterReading
from simulator.model import PlantModel
from simulator.pv import PvArray
from simulator.scenario import BatteryConfig, ChargingSession, Scenario, WallboxConfig

SUMMER_DAY = dt.datetime(2025, 6, 21, tzinfo=dt.UTC)
WINTER_DAY = dt.datetime(2025, 12, 21, tzinfo=dt.UTC)

seeds = st.integers(min_value=0, max_value=10_000)
starts = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC))
steps_s = st.lists(st.floats(min_value=0.0, max_value=90.0, allow_nan=False), min_size=1, max_size=25)
fast = settings(max_examples=25, deadline=None)


def counter_values(reading: MeterReading) -> list[float]:
    return [v for counters in (reading.energy, *reading.phase_energy) for v in dataclasses.astuple(counters)]


def walk(model: PlantModel, start: dt.datetime, steps: list[float]) -> list[dt.datetime]:
    moments, moment = [], start
    for step in steps:
        moment += dt.timedelta(seconds=step)
        moments.append(moment)
    return moments


@fast
@given(seeds, starts, steps_s)
def test_counters_never_decrease(seed: int, start: dt.datetime, steps: list[float]) -> None:
    model = PlantModel(seed=seed, start=start)
    previous = counter_values(model.reading())
    for moment in walk(model, start, steps):
        model.advance(moment)
        current = counter_values(model.reading())
        assert all(now >= before for now, before in zip(current, previous, strict=True))
        previous = current


@fast
@given(seeds, starts, steps_s)
def test_phases_sum_to_totals_and_grid_balances(seed: int, start: dt.datetime, steps: list[float]) -> None:
    model = PlantModel(seed=seed, start=start)
    for moment in walk(model, start, steps):
        model.advance(moment)
        reading, flow = model.snapshot()
        assert sum(p.active_power_w for p in reading.phases) == pytest.approx(reading.active_power_w, abs=1e-6)
        assert sum(p.reactive_power_var for p in reading.phases) == pytest.approx(reading.reactive_power_var, abs=1e-6)
        assert flow.house_power_w is not None and flow.pv_power_w is not None
        balance_w = flow.house_power_w + (flow.wallbox_power_w or 0) + (flow.battery_power_w or 0) - flow.pv_power_w
        assert reading.active_power_w == pytest.approx(balance_w, abs=1e-6)
        for phase in reading.phases:
            assert phase.current_a == pytest.approx(phase.apparent_power_va / phase.voltage_v)
            assert 228.0 <= phase.voltage_v <= 232.0
        assert 49.98 <= reading.frequency_hz <= 50.02


@fast
@given(
    seeds,
    starts,
    st.floats(min_value=-5000, max_value=5000),
    st.floats(min_value=0, max_value=100),
    st.integers(min_value=1, max_value=4 * 3600),
)
def test_battery_soc_stays_within_limits(
    seed: int, start: dt.datetime, forced_w: float, soc_pct: float, duration_s: int
) -> None:
    battery = BatteryConfig(capacity_wh=2000, max_power_w=5000, min_soc_pct=10, max_soc_pct=90)
    model = PlantModel(Scenario(battery=battery), seed=seed, start=start)
    model.set_battery_soc(soc_pct)
    model.override(battery_power_w=forced_w)
    for moment in walk(model, start, [duration_s / 4] * 4):
        model.advance(moment)
        soc = model.flow().battery_soc_pct
        assert soc is not None and 10 <= soc <= 90


@fast
@given(seeds, starts, steps_s)
def test_same_seed_and_times_give_identical_readings(seed: int, start: dt.datetime, steps: list[float]) -> None:
    first, second = PlantModel(seed=seed, start=start), PlantModel(seed=seed, start=start)
    for moment in walk(first, start, steps):
        first.advance(moment)
        second.advance(moment)
        assert first.reading() == second.reading()
        assert first.flow() == second.flow()


@settings(max_examples=10, deadline=None)
@given(seeds, starts, st.integers(min_value=1, max_value=120))
def test_sampling_rate_does_not_change_the_values(seed: int, start: dt.datetime, seconds: int) -> None:
    coarse, fine = PlantModel(seed=seed, start=start), PlantModel(seed=seed, start=start)
    for second in range(1, seconds + 1):
        for fifth in range(1, 6):
            fine.advance(start + dt.timedelta(seconds=second - 1, milliseconds=200 * fifth))
        coarse.advance(start + dt.timedelta(seconds=second))
        assert coarse.reading() == fine.reading()
        assert coarse.flow() == fine.flow()


def test_pv_follows_the_sun_and_the_seasons() -> None:
    pv = PvArray(seed=1, peak_w=8000, cloudiness=0.0, latitude_deg=51.0, longitude_deg=10.0)

    def power_w(day: dt.datetime, hour_utc: float) -> float:
        return pv.power_w((day + dt.timedelta(hours=hour_utc)).timestamp())

    assert power_w(SUMMER_DAY, 0) == 0.0
    assert power_w(SUMMER_DAY, 3.5) > 0.0  # German summer sunrise is before 04:00 UTC
    assert power_w(WINTER_DAY, 6.5) == 0.0  # ... and after 07:00 UTC in winter
    assert 5000 < power_w(SUMMER_DAY, 11.3) < 8000
    assert 0 < power_w(WINTER_DAY, 11.3) < power_w(SUMMER_DAY, 11.3) / 2


def test_clouds_pass_as_sudden_partial_drops() -> None:
    pv = PvArray(seed=5, peak_w=8000, cloudiness=0.8, latitude_deg=51.0, longitude_deg=10.0)
    noon_s = (SUMMER_DAY + dt.timedelta(hours=11)).timestamp()
    shades = [pv.cloud_shade(noon_s + second) for second in range(0, 7200, 2)]
    assert min(shades) == 0.0
    assert 0.3 <= max(shades) <= 0.8
    shaded_runs = "".join("x" if s > 0.25 else "." for s in shades).split(".")
    assert max(len(run) for run in shaded_runs) * 2 >= 20  # a cloud lasts tens of seconds or more


def test_house_load_steps_land_unevenly_on_phases() -> None:
    model = PlantModel(Scenario(battery=None, wallbox=None, pv_peak_w=0), seed=2, start=SUMMER_DAY)
    totals, l1_shares = [], []
    for minute in range(24 * 60):
        model.advance(SUMMER_DAY + dt.timedelta(minutes=minute))
        flow, reading = model.flow(), model.reading()
        assert flow.house_power_w is not None
        totals.append(flow.house_power_w)
        l1_shares.append(reading.phases[0].active_power_w / reading.active_power_w)
    assert min(totals) > 250  # never below the base load
    assert max(totals) > 2000  # a kettle, oven or washing machine switched on at some point
    assert len({round(share, 2) for share in l1_shares}) > 2  # appliances shift the phase balance


def test_car_charges_in_its_window_until_full() -> None:
    session = ChargingSession(start=dt.time(10), end=dt.time(14), car_capacity_wh=11_000, arrival_soc_pct=50)
    scenario = Scenario(wallbox=WallboxConfig(max_power_w=11_000, phases=3, sessions=(session,)), timezone="UTC")
    model = PlantModel(scenario, seed=1, start=SUMMER_DAY + dt.timedelta(hours=9, minutes=59))

    def wallbox_w(hour: int, minute: int) -> float | None:
        model.advance(SUMMER_DAY + dt.timedelta(hours=hour, minutes=minute))
        return model.flow().wallbox_power_w

    assert wallbox_w(9, 59) == 0
    assert wallbox_w(10, 1) == 11_000
    assert wallbox_w(10, 29) == 11_000  # 5.5 kWh at 11 kW take 30 minutes
    assert wallbox_w(10, 31) == 0
    assert wallbox_w(14, 30) == 0


def test_single_phase_wallbox_loads_l1_only() -> None:
    wallbox = WallboxConfig(max_power_w=3680, phases=1)
    scenario = Scenario(wallbox=wallbox, battery=None, timezone="UTC")
    model = PlantModel(scenario, seed=1, start=SUMMER_DAY + dt.timedelta(hours=10))
    model.override(pv_power_w=0, house_power_w=0)
    model.advance(SUMMER_DAY + dt.timedelta(hours=10, seconds=1))
    phases = model.reading().phases
    assert phases[0].active_power_w == pytest.approx(3680)
    assert phases[1].active_power_w == pytest.approx(0)


def test_battery_charges_from_surplus_and_covers_the_house() -> None:
    model = PlantModel(Scenario(wallbox=None), seed=1, start=SUMMER_DAY + dt.timedelta(hours=11))
    model.override(pv_power_w=3000, house_power_w=1000)
    assert model.flow().battery_power_w == pytest.approx(2000)
    assert model.reading().active_power_w == pytest.approx(0)
    model.override(pv_power_w=0)
    assert model.flow().battery_power_w == pytest.approx(-1000)
    model.set_battery_soc(5)
    assert model.flow().battery_power_w == 0
    assert model.reading().active_power_w == pytest.approx(1000)


def test_override_is_seen_immediately_and_counters_keep_rising() -> None:
    model = PlantModel(seed=1, start=SUMMER_DAY + dt.timedelta(hours=11))
    model.advance(SUMMER_DAY + dt.timedelta(hours=11, seconds=30.5))
    before = counter_values(model.reading())
    model.override(pv_power_w=0, house_power_w=5000, wallbox_power_w=0, battery_power_w=0)
    assert model.reading().active_power_w == pytest.approx(5000)
    model.advance(SUMMER_DAY + dt.timedelta(hours=12, seconds=30.5))
    after = model.reading()
    assert all(a >= b for a, b in zip(counter_values(after), before, strict=True))
    assert after.energy.active_import_wh - before[0] == pytest.approx(5000, abs=1)  # one hour at 5 kW


def test_overrides_are_validated() -> None:
    model = PlantModel(Scenario(battery=None), seed=1, start=SUMMER_DAY)
    with pytest.raises(TypeError, match="grid_power_w"):
        model.override(grid_power_w=1)
    with pytest.raises(ValueError, match="no battery"):
        model.override(battery_power_w=1)


def test_time_must_be_aware_and_never_runs_backwards() -> None:
    model = PlantModel(seed=1, start=SUMMER_DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        model.advance(dt.datetime(2025, 6, 21, 1))
    model.advance(SUMMER_DAY + dt.timedelta(hours=1))
    model.advance(SUMMER_DAY)
    assert model.now == SUMMER_DAY + dt.timedelta(hours=1)


def test_initial_counters_are_plausible_and_seeded() -> None:
    first = PlantModel(seed=1, start=SUMMER_DAY).reading().energy
    other = PlantModel(seed=2, start=SUMMER_DAY).reading().energy
    assert first != other
    assert 500_000 < first.active_import_wh < 3_000_000
    assert first.active_import_wh == round(first.active_import_wh, 1)
    assert isinstance(first, EnergyCounters)


def test_device_info_looks_like_a_ksem() -> None:
    info = PlantModel(seed=9, start=SUMMER_DAY).device_info()
    assert (info.vendor, info.product, info.measuring_interval_ms) == ("KOSTAL", "KSEM", 200)
    assert info.serial.startswith("SIM") and info.serial[3:].isdigit()
    assert info.serial == PlantModel(seed=9, start=WINTER_DAY).device_info().serial
