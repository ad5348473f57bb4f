"""The reasons the feed-in, grid-operator and battery controllers give, as a person reads them
on the overview (issue 13.9): power in kW with sensible precision, the exchange in words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy import wording
from energy.config import BatteryManagementSettings, GridOperatorLimits
from energy.testing import ControllerTest, Inverter
from inverters.battery_control import BatteryManagement
from inverters.control import FeedInLimitation
from inverters.control import GridOperatorLimits as GridOperatorController
from inverters.tests.test_control import MP, SOUTH, plant


@pytest.mark.parametrize(
    ("power_w", "text"),
    [
        (0.0, "0 W"),
        (12.4, "12 W"),
        (850.0, "850 W"),
        (999.6, "1.00 kW"),
        (7_620.0, "7.62 kW"),
        (9_999.0, "10.0 kW"),
        (10_808.0, "10.8 kW"),
        (11_040.0, "11.0 kW"),
        (125_400.0, "125 kW"),
        (-3_200.0, "-3.20 kW"),
    ],
)
def test_power_reads_in_watts_or_kilowatts_with_three_digits(power_w: float, text: str) -> None:
    assert wording.power(power_w) == text


@pytest.mark.parametrize(
    ("grid_w", "text"),
    [
        (10_808.0, "buying 10.8 kW"),
        (-3_200.0, "feeding in 3.20 kW"),
        (4.0, "no exchange with the grid"),
    ],
)
def test_the_exchange_at_the_grid_point_in_words(grid_w: float, text: str) -> None:
    assert wording.exchange(grid_w) == text


@given(st.floats(min_value=-999_000, max_value=999_000, allow_nan=False))
def test_power_never_shows_more_than_three_significant_digits_above_a_kilowatt(power_w: float) -> None:
    text = wording.power(power_w)
    number, unit = text.split(" ")
    assert unit in ("W", "kW")
    digits = number.lstrip("-").replace(".", "").lstrip("0")
    assert unit == "W" or len(digits) <= 3
    value = float(number) * (1000 if unit == "kW" else 1)
    assert value == pytest.approx(power_w, abs=max(abs(power_w) * 0.006, 0.5))


def test_buying_while_a_feed_in_limit_is_set_says_the_limit_is_not_reached() -> None:
    out = ControllerTest([FeedInLimitation()], plant(SOUTH, limit_w=7_620)).cycle(
        grid_w=10_808, inverters={"south": 400}
    )
    assert out.status("feed_in_limitation").reason == "buying 10.8 kW; feed-in limit 7.62 kW not reached"


def test_feeding_in_below_the_limit_says_so() -> None:
    out = ControllerTest([FeedInLimitation()], plant(SOUTH, limit_w=7_620)).cycle(
        grid_w=-1_000, inverters={"south": 9_000}
    )
    assert out.status("feed_in_limitation").reason == "feeding in 1.00 kW; feed-in limit 7.62 kW not reached"


def test_limiting_names_the_feed_in_the_limit_and_the_inverters_share() -> None:
    out = ControllerTest([FeedInLimitation()], plant(SOUTH, limit_w=6_000)).cycle(
        grid_w=-9_000, inverters={"south": 10_000}
    )
    reason = out.status("feed_in_limitation").reason
    assert reason.startswith("feeding in 9.00 kW; feed-in limit 6.00 kW: inverters at ")
    assert reason.endswith(" %") and "W within" not in reason


def test_grid_operator_limits_in_words() -> None:
    config = plant(MP, limit_w=None, grid_limits=GridOperatorLimits(lpp_w=None, lpc_w=4_200))
    battery = Inverter(ac_power_w=0.0, battery_power_w=0.0, battery_soc_pct=50.0)
    out = ControllerTest([GridOperatorController()], config).cycle(grid_w=1_000, inverters={"mp": battery})
    assert "purchase limit (LPC) 4.20 kW" in out.status("grid_operator_limits").reason
    off = ControllerTest([GridOperatorController()], plant(MP, limit_w=None)).cycle(grid_w=0, inverters={"mp": 0})
    assert off.status("grid_operator_limits").reason == "no limit from the grid operator"


def test_lpc_says_when_the_house_alone_draws_more_than_the_limit() -> None:
    config = plant(MP, limit_w=None, grid_limits=GridOperatorLimits(lpc_w=4_200))
    charging = Inverter(ac_power_w=0.0, battery_power_w=500.0, battery_soc_pct=50.0)
    # 5.7 kW bought, 0.5 kW of it into the battery: the house alone draws 5.2 kW.
    out = ControllerTest([GridOperatorController()], config).cycle(grid_w=5_700, inverters={"mp": charging})
    assert "the house alone draws 5.20 kW, more than the purchase limit (LPC) 4.20 kW" in (
        out.status("grid_operator_limits").reason
    )
    within = ControllerTest([GridOperatorController()], config).cycle(grid_w=4_000, inverters={"mp": charging})
    assert "house alone" not in within.status("grid_operator_limits").reason


def test_battery_management_says_what_it_does_and_why() -> None:
    config = plant(MP, limit_w=None, battery_management=BatteryManagementSettings(enabled=True))
    out = ControllerTest([BatteryManagement()], config).cycle(
        grid_w=-1_500, inverters={"mp": Inverter(ac_power_w=0.0, battery_power_w=0.0, battery_soc_pct=50.0)}
    )
    assert out.status("battery_management").reason == "feeding in 1.50 kW: charging with up to 1.50 kW"
