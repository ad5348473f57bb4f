"""The forecast's error on replayed days of the simulator's PV (sun and seeded clouds) and
household: a clear week then a clear day, a cloudy week then a cloudy day, and a clear week then a
cloudy day (the error the forecast cannot avoid without a weather service). The mean absolute error
per day as a share of the day's energy is reported (``-s`` prints it; also a junit property)."""

from __future__ import annotations

import pytest

from replay.forecast_error import all_days


@pytest.fixture(scope="module")
def days() -> dict:
    return {day.name: day for day in all_days()}


def test_errors_are_reported(days: dict, record_property) -> None:
    for day in days.values():
        record_property(f"forecast_mae_pct {day.name}", round(day.pv_mae_pct, 1))
        print(f"forecast MAE, {day.name}: PV {day.pv_mae_pct:.1f} %, house {day.load_mae_pct:.1f} %")
    assert set(days) == {"clear", "cloudy", "cloudier than the week before"}


def test_a_clear_day_after_a_clear_week_is_forecast_within_5_percent(days: dict) -> None:
    clear = days["clear"]
    assert clear.pv_mae_pct < 5.0
    assert clear.pv_forecast_kwh == pytest.approx(clear.pv_actual_kwh, rel=0.05)


def test_a_cloudy_day_after_a_cloudy_week_is_forecast_within_25_percent(days: dict) -> None:
    cloudy = days["cloudy"]
    assert cloudy.pv_mae_pct < 25.0
    # The day's energy is learned from the week: within 10 %.
    assert cloudy.pv_forecast_kwh == pytest.approx(cloudy.pv_actual_kwh, rel=0.10)


def test_a_surprise_costs_more_than_a_cloudy_day_that_was_expected(days: dict) -> None:
    surprise = days["cloudier than the week before"]
    assert surprise.pv_mae_pct > days["cloudy"].pv_mae_pct
    assert surprise.pv_forecast_kwh > surprise.pv_actual_kwh  # the clear week promised more


def test_the_house_forecast_is_within_the_daily_energy(days: dict) -> None:
    day = days["clear"]
    # A household's appliances switch at random minutes: the slot error is large, the day's energy close.
    assert day.load_forecast_kwh == pytest.approx(day.load_actual_kwh, rel=0.4)
    assert day.load_mae_pct < 100.0
