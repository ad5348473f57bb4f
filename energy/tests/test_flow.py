"""Where the power goes, from the meter and the source's device summary (PL-3, MET-6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.flow import compute_flow
from energy.state import ZERO_PHASE, EnergyCounters, FlowSummary, MeterReading


def meter(active_w: float) -> MeterReading:
    return MeterReading(
        active_w, 0.0, abs(active_w), 1.0, 50.0, (ZERO_PHASE,) * 3, EnergyCounters(), (EnergyCounters(),) * 3
    )


@pytest.mark.parametrize(
    ("position", "grid_w", "summary", "expected_grid", "expected_house"),
    [
        pytest.param("grid", 800.0, None, 800.0, 800.0, id="only a meter: house is what the grid delivers"),
        pytest.param("grid", -2000.0, None, -2000.0, None, id="feed-in with unknown producers: house unknown"),
        pytest.param("grid", -2000.0, FlowSummary(pv_power_w=3000.0), -2000.0, 1000.0, id="pv covers house and feed-in"),
        pytest.param(
            "grid", 500.0, FlowSummary(pv_power_w=4000.0, battery_power_w=2500.0, wallbox_power_w=1500.0),
            500.0, 500.0, id="pv into battery and car, grid tops up",
        ),
        pytest.param(
            "grid", 0.0, FlowSummary(pv_power_w=0.0, battery_power_w=-1200.0), 0.0, 1200.0, id="battery covers house",
        ),
        pytest.param("home", 900.0, FlowSummary(pv_power_w=3000.0), -2100.0, 900.0, id="home position: meter is house"),
        pytest.param("home", 900.0, None, None, 900.0, id="home position without pv: grid unknown"),
    ],
)  # fmt: skip
def test_energy_balance(position, grid_w, summary, expected_grid, expected_house):
    flow = compute_flow(position, meter(grid_w), summary)
    assert flow.grid_power_w == expected_grid
    assert flow.house_power_w == expected_house


def test_no_meter_sample_means_no_grid_and_no_house():
    flow = compute_flow("grid", None, FlowSummary(pv_power_w=1000.0))
    assert (flow.grid_power_w, flow.house_power_w, flow.pv_power_w) == (None, None, 1000.0)


power = st.floats(min_value=-50_000, max_value=50_000, allow_nan=False)


@given(grid=power, pv=st.floats(0, 50_000), battery=power, wallbox=st.floats(0, 22_000))
def test_balance_holds_whenever_house_is_known(grid, pv, battery, wallbox):
    flow = compute_flow("grid", meter(grid), FlowSummary(pv, battery, 50.0, None, wallbox))
    if flow.house_power_w is not None:
        assert flow.house_power_w >= 0
        residual = grid + pv - battery - wallbox - flow.house_power_w
        assert residual == pytest.approx(0, abs=50.0 + 1e-6)
