"""Scenario files: defaults, and every bad value rejected with the key that is wrong."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from simulator.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict


def test_empty_scenario_is_the_default_plant() -> None:
    scenario = scenario_from_dict({})
    assert scenario == Scenario()
    assert scenario.pv_peak_w == 8000
    assert scenario.battery is not None and scenario.battery.capacity_wh == 10_000
    assert scenario.wallbox is not None and scenario.wallbox.sessions[0].start == dt.time(10)


def test_full_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "plant.json"
    path.write_text(
        json.dumps(
            {
                "pv_peak_w": 12000,
                "start": "2025-03-01T08:00:00+01:00",
                "battery": None,
                "wallbox": {"phases": 1, "max_power_w": 3680, "sessions": [{"start": "18:00", "end": "23:00"}]},
            }
        )
    )
    scenario = load_scenario(path)
    assert scenario.pv_peak_w == 12000
    assert scenario.start == dt.datetime(2025, 3, 1, 7, tzinfo=dt.UTC)
    assert scenario.battery is None
    assert scenario.wallbox is not None and scenario.wallbox.phases == 1


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"pv_peek_w": 1}, "pv_peek_w"),
        ({"pv_peak_w": "lots"}, "pv_peak_w"),
        ({"cloudiness": 2}, "cloudiness"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2025-06-21T06:00:00"}, "start"),
        ({"battery": {"capacity_wh": 0}}, "battery.capacity_wh"),
        ({"battery": {"colour": "red"}}, "battery.colour"),
        ({"battery": {"min_soc_pct": 50, "max_soc_pct": 40}}, "battery.min_soc_pct"),
        ({"wallbox": {"phases": 2}}, "wallbox.phases"),
        ({"wallbox": {"sessions": [{"start": "25:00"}]}}, "wallbox.sessions[0].start"),
        ({"wallbox": {"sessions": [{"start": "14:00", "end": "10:00"}]}}, "wallbox.sessions[0].end"),
        (
            {"wallbox": {"sessions": [{"start": "10:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}},
            "overlap",
        ),
        ([1, 2], "scenario"),
        (
            {"inverters": [{"name": "mp", "type": "piko_mp_plus", "address": 3}]},
            "inverters[0].address: only with a line",
        ),
        ({"inverters": [{"name": "mp", "type": "piko_mp_plus", "line": "B", "address": 0}]}, "inverters[0].address"),
        ({"inverters": [{"name": "mp", "type": "piko_mp_plus", "line": "B/2"}]}, "inverters[0].line"),
    ],
)
def test_bad_values_name_the_key(data: Any, key: str) -> None:
    with pytest.raises(ScenarioError, match=key.replace("[", r"\[").replace("]", r"\]")):
        scenario_from_dict(data)


def test_unreadable_files_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(broken)
