"""The replay's metrics, computed from trace rows alone."""

from __future__ import annotations

import io

import pytest

from simulator.trace import TraceWriter, cell, columns, metrics, read_trace


def rows(*grid_w: float, limit: float = 6_000, available: float = 0, pv: float = 0, **extra) -> list[dict[str, str]]:
    return [
        {"grid_w": str(g), "feed_in_limit_w": str(limit), "pv_available_w": str(available), "pv_w": str(pv), **extra}
        for g in grid_w
    ]


@pytest.mark.parametrize(
    ("grid_w", "longest"),
    [
        pytest.param((-6_000, -6_040, -5_000), 0, id="within the 50 W tolerance"),
        pytest.param((-6_100, -6_100, -5_000, -6_100), 2, id="two in a row"),
        pytest.param((-7_000,) * 3 + (-5_000,), 3, id="three in a row"),
    ],
)
def test_cycles_above_the_feed_in_limit(grid_w, longest):
    assert metrics(rows(*grid_w), 1.0)["max_cycles_above_feed_in_limit"] == longest


def test_energies_in_watt_hours():
    # One hour of 3600 cycles at 1 s: 7 kW feed-in against 6 kW is 1 kWh above the limit.
    result = metrics(rows(*([-7_000.0] * 3600), available=10_000, pv=9_000), 1.0)
    assert result["feed_in_wh"] == pytest.approx(7_000)
    assert result["feed_in_above_limit_wh"] == pytest.approx(1_000)
    assert result["curtailed_wh"] == pytest.approx(1_000)
    # Without curtailment 8 kW would have gone out: 2 kW had to go.
    assert result["curtailed_needed_wh"] == pytest.approx(2_000)


def test_the_tighter_of_feed_in_limit_and_lpp_sets_the_needed_curtailment():
    result = metrics(rows(-3_000, available=5_000, pv=5_000, lpp_w="2000"), 3600.0)
    assert result["curtailed_needed_wh"] == pytest.approx(1_000)
    assert result["feed_in_above_lpp_wh"] == pytest.approx(1_000)
    assert result["max_cycles_above_lpp"] == 1


def test_writer_and_reader_round_trip():
    stream = io.StringIO()
    header = columns(inverters=2, wallboxes=0)
    writer = TraceWriter(stream, header)
    writer.write({"time": "2025-06-21T10:00:01+00:00", "grid_w": -1234.5678, "inverter_1_online": True})
    (row,) = read_trace(stream.getvalue())
    assert row["grid_w"] == "-1234.57"
    assert row["inverter_1_online"] == "1"
    assert row["inverter_2_setpoint_pct"] == ""
    assert list(row)[-1] == "cycle_ms"
    with pytest.raises(KeyError, match="not trace columns: colour"):
        writer.write({"colour": "red"})


@pytest.mark.parametrize(("value", "text"), [(None, ""), (False, "0"), (100.0, "100"), (-0.001, "0"), (2.5, "2.5")])
def test_cells(value, text):
    assert cell(value) == text
