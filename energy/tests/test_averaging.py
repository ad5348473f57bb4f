"""5-minute averages (MET-5) from 1 s snapshots."""

from __future__ import annotations

import datetime as dt

import pytest

from energy.averaging import IntervalAverager, interval_start
from energy.state import (
    ZERO_PHASE,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    MeterReading,
    PlantState,
)

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def snapshot(at: dt.datetime, grid_w: float | None, pv_w: float | None = None) -> PlantState:
    meter = None
    if grid_w is not None:
        meter = MeterReading(
            grid_w, 0.0, abs(grid_w), 1.0, 50.0, (ZERO_PHASE,) * 3, EnergyCounters(), (EnergyCounters(),) * 3
        )
    return PlantState(
        plant_id=1,
        timestamp=at,
        sequence=0,
        meter=meter,
        meter_status=DeviceStatus(name="meter", online=meter is not None),
        flow=EnergyFlow(
            grid_power_w=grid_w,
            pv_power_w=pv_w,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=None,
            wallbox_power_w=None,
        ),
        totals=EnergyCounters(),
    )


@pytest.mark.parametrize(
    ("moment", "start"),
    [
        (dt.datetime(2026, 6, 1, 12, 4, 59, tzinfo=dt.UTC), dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 6, 1, 12, 5, 0, tzinfo=dt.UTC), dt.datetime(2026, 6, 1, 12, 5, tzinfo=dt.UTC)),
        (dt.datetime(2026, 6, 1, 23, 59, 59, 999999, tzinfo=dt.UTC), dt.datetime(2026, 6, 1, 23, 55, tzinfo=dt.UTC)),
    ],
)
def test_intervals_start_on_five_minute_boundaries(moment, start):
    assert interval_start(moment) == start


def test_average_min_max_and_missing_values():
    averager = IntervalAverager()
    for i, (grid, pv) in enumerate([(100.0, None), (300.0, 1000.0), (-200.0, 3000.0)]):
        assert averager.add(snapshot(T0 + dt.timedelta(seconds=i), grid, pv)) is None
    averager.add(snapshot(T0 + dt.timedelta(seconds=3), None))  # meter offline: not a sample
    finished = averager.add(snapshot(T0 + dt.timedelta(minutes=5), 50.0))
    assert finished is not None
    assert finished.start == T0
    assert finished.samples == 3
    assert finished.values["grid_power_w"] == pytest.approx(200.0 / 3)
    assert finished.values["pv_power_w"] == pytest.approx(2000.0)  # averaged over the samples that had it
    assert finished.values["battery_power_w"] is None
    assert (finished.grid_power_min_w, finished.grid_power_max_w) == (-200.0, 300.0)
    rest = averager.flush()
    assert rest is not None
    assert rest.samples == 1


def test_an_interval_without_meter_samples_writes_nothing():
    averager = IntervalAverager()
    averager.add(snapshot(T0, None))
    assert averager.add(snapshot(T0 + dt.timedelta(minutes=5), 10.0)) is None


@pytest.mark.parametrize(("limits", "curtailed"), [((100.0, 100.0), False), ((100.0, 60.0), True), ((), False)])
def test_an_interval_with_a_limited_inverter_is_marked_curtailed(limits: tuple[float, ...], curtailed: bool) -> None:
    import dataclasses

    from energy.state import Setpoint

    averager = IntervalAverager()
    for i, pct in enumerate(limits or (None,)):
        state = snapshot(T0 + dt.timedelta(seconds=i), -3000.0, 6000.0)
        if pct is not None:
            state = dataclasses.replace(
                state, setpoints=(Setpoint(device="roof", quantity="active_power_limit_pct", value=pct),)
            )
        averager.add(state)
    finished = averager.add(snapshot(T0 + dt.timedelta(minutes=5), 0.0))
    assert finished is not None and finished.curtailed is curtailed
    assert averager.flush() is not None and averager.flush().curtailed is False  # type: ignore[union-attr]
