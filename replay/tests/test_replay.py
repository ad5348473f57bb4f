"""Control quality, judged from the replay's trace: the product's own cycle against the
simulated plant in stepped time, real drivers over loopback sockets."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from replay.engine import Replay
from replay.scenario import ReplayError, load_replay_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "simulator" / "scenarios"


def replay(name: str, out: Path, **kwargs) -> tuple[list[dict[str, str]], dict]:
    scenario, simulated = load_replay_scenario(SCENARIOS / name)
    summary = Replay(scenario, simulated, **kwargs).run(out)
    with (out / "trace.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert json.loads((out / "summary.json").read_text()) == summary
    return rows, summary


def number(row: dict[str, str], key: str) -> float | None:
    return float(row[key]) if row[key] != "" else None


@pytest.fixture(scope="module")
def noon(tmp_path_factory) -> tuple[list[dict[str, str]], dict]:
    return replay("noon-clouds-limit60.json", tmp_path_factory.mktemp("noon"))


def test_noon_with_passing_clouds_keeps_feed_in_under_60_percent(noon):
    rows, summary = noon
    assert len(rows) == 3600
    # Feed-in above the limit (beyond 50 W) for no more than 2 consecutive cycles.
    assert summary["max_cycles_above_feed_in_limit"] <= 2
    # Energy above the limit at most 0.2 % of the feed-in energy.
    assert summary["feed_in_wh"] > 5_000
    assert summary["feed_in_above_limit_wh"] <= 0.002 * summary["feed_in_wh"]
    # Curtailed no more than 1 % of the PV energy beyond what the limit required.
    pv_wh = sum(float(r["pv_available_w"]) for r in rows) / 3600
    assert summary["curtailed_needed_wh"] > 0, "the scenario must actually need curtailment"
    assert summary["curtailed_wh"] - summary["curtailed_needed_wh"] <= 0.01 * pv_wh


def test_the_piko_ci_is_never_given_a_setpoint_and_the_others_share_in_proportion(noon):
    rows, _ = noon
    assert all(r["inverter_4_setpoint_pct"] == "" for r in rows)
    limited = [r for r in rows if float(r["inverter_1_setpoint_pct"]) < 99.0]
    assert len(limited) > 60
    # One common percentage of each inverter's maximum power, so reductions are proportional to
    # size: the KOSTAL inverters take whole percent, the SunSpec one the rest of the allowance.
    for r in limited:
        south, garage, carport = (float(r[f"inverter_{n}_setpoint_pct"]) for n in (1, 2, 3))
        assert south == garage
        assert south <= carport < south + 1.0 + (10_000 + 5_500) / 4_200


def test_an_inverter_that_goes_silent_is_an_error_and_the_others_take_its_share(tmp_path):
    rows, summary = replay("inverter-outage.json", tmp_path)
    by_time = {r["time"][11:19]: r for r in rows}
    # Offline at 10:40 UTC (12:40 local): an error from the next cycle on, no setpoint any more.
    assert by_time["10:39:59"]["inverter_2_online"] == "1"
    assert by_time["10:40:01"]["inverter_2_online"] == "0"
    assert by_time["10:45:00"]["inverter_2_setpoint_pct"] == ""
    # Back at 10:50 and folded in again.
    assert by_time["10:50:05"]["inverter_2_online"] == "1"
    assert by_time["10:50:05"]["inverter_2_setpoint_pct"] == by_time["10:50:05"]["inverter_1_setpoint_pct"]
    # The limit held throughout, LPP included.
    assert summary["max_cycles_above_feed_in_limit"] <= 2
    assert summary["max_cycles_above_lpp"] <= 2
    assert summary["feed_in_above_limit_wh"] <= 0.002 * summary["feed_in_wh"]
    during_lpp = [r for r in rows if r["lpp_w"] == "6000"]
    assert len(during_lpp) == 120
    assert summary["note"].startswith("LPC/LPP events are written by the simulated control box over SHIP/SPINE")


def test_the_battery_keeps_grid_exchange_near_zero_over_a_day(tmp_path):
    rows, summary = replay("battery-day.json", tmp_path)
    assert len(rows) == 24 * 3600 // 10
    socs = [float(r["battery_soc_pct"]) for r in rows]
    assert min(socs) >= 5.0 - 0.5
    assert max(socs) > 90.0, "a summer day fills the battery"
    # Whenever SoC and power limits allow, and house and sun did not change since the last
    # cycle (a step between two cycles is first seen by the next), the exchange is within 100 W.
    free = []
    for before, row in itertools.pairwise(rows):
        soc, battery_w = float(row["battery_soc_pct"]), float(row["battery_w"])
        step_w = abs(float(row["house_w"]) - float(before["house_w"])) + abs(
            float(row["pv_available_w"]) - float(before["pv_available_w"])
        )
        if 5.5 < soc < 99.5 and abs(battery_w) < 4_600 - 50 and step_w <= 100:
            free.append(float(row["grid_w"]))
    assert len(free) > len(rows) / 3
    assert all(abs(grid_w) <= 100.0 for grid_w in free), max(free, key=abs)
    # Over the whole day, including what the battery could not cover, little is bought.
    assert summary["purchase_wh"] < 0.05 * sum(float(r["house_w"]) for r in rows) * 10 / 3600


def test_same_scenario_and_seed_give_the_same_trace(tmp_path):
    first, _ = replay("inverter-outage.json", tmp_path / "a", hours=0.05, seed=3)
    second, _ = replay("inverter-outage.json", tmp_path / "b", hours=0.05, seed=3)
    strip = [{k: v for k, v in row.items() if k != "cycle_ms"} for row in first]
    assert strip == [{k: v for k, v in row.items() if k != "cycle_ms"} for row in second]
    assert len(first) == 180
    assert {"time", "grid_w", "pv_available_w", "inverter_4_online", "cycle_ms"} <= set(first[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"colour": "red"}, "colour: unknown key", id="unknown key"),
        pytest.param({"hours": -1}, "hours: Input should be greater than 0", id="bad hours"),
        pytest.param(
            {"product": {"wallboxes": [{"mode": "fast"}]}},
            "product.wallboxes[0].mode: unknown mode 'fast'",
            id="wallbox mode",
        ),
        pytest.param({"product": {"mains": {"phases": 2}}}, "product.mains.phases: Input should be 1 or 3", id="mains"),
        pytest.param(
            {"product": {"feed_in_limit": {"enabled": True}}},
            "product.feed_in_limit: give exactly one of limit_w and limit_pct",
            id="no limit value",
        ),
        pytest.param(
            {"inverters": [{"name": "x", "type": "sma"}]}, "inverters[0].type: unknown type 'sma'", id="inverter type"
        ),
        pytest.param(
            {"events": [{"at": "11:00", "device": "garage", "fault": "melted"}]},
            "events[0].fault: Input should be",
            id="fault kind",
        ),
        pytest.param(
            {"events": [{"at": "11:00", "device": "attic", "fault": "offline"}]},
            "events[0].device: no device 'attic'",
            id="unknown device",
        ),
        pytest.param({"events": [{"at": "soon", "cloud": 0.5, "for_s": 60}]}, "events[0].at: must be", id="bad time"),
        pytest.param(
            {"events": [{"at": "11:00", "cloud": 0.5, "lpp_w": 3000}]},
            "events[0]: an event has exactly one of",
            id="two kinds in one event",
        ),
        pytest.param(
            {"events": [{"at": "11:00", "cloud": 0.5, "for_s": 60, "duration_s": 60}]},
            "events[0]: duration_s is for fault and lpc_w and lpp_w events, not cloud",
            id="a key the kind does not take",
        ),
        pytest.param(
            {"events": [{"at": "11:00", "lpc_w": 4000, "for_s": 60}]},
            "events[0]: for_s is for cloud events, not lpc_w",
            id="for_s on a limit",
        ),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_key(change, message):
    data = json.loads((SCENARIOS / "inverter-outage.json").read_text())
    data.update(change)
    with pytest.raises(ReplayError) as refused:
        parse_scenario(data)
    assert str(refused.value).startswith(message)


def test_the_command_exits_2_on_a_bad_scenario_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"product": {"wallboxes": [{"mode": "fast"}]}, "start": "2025-06-21T10:00:00+00:00"}))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "manage.py", "replay", str(bad), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "product.wallboxes[0].mode: unknown mode 'fast'" in done.stderr
    assert not out.exists()


def test_the_command_writes_trace_and_summary(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "replay",
            str(SCENARIOS / "noon-clouds-limit60.json"),
            "--out",
            str(out),
            "--hours",
            "0.02",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["cycles"] == 72
    assert summary == json.loads((out / "summary.json").read_text())
    assert (out / "trace.csv").read_text().count("\n") == 73
