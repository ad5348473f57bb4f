"""A charging plan replayed over a night (issue 19, parts 3 and 5), judged from the trace alone.

``plan_night.json``: the car plugs in at 18:00 and needs 20 kWh (30 % to 80 % of 40 kWh) by 07:00;
the tariff is 0.35 per kWh by day and 0.22 from 22:00 to 06:00. The box is in Power mode with the
plan; the yardstick is the same night without the plan ("Power mode at plug-in").

Affordable: 10 s cycles (the ENECTOR's heartbeat allows up to 10 s), so the 13-hour night is 4,680
cycles; the Power-mode night is replayed for 2.5 hours only, by which time its car is full (the
test checks that it is)."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

from replay.engine import Replay
from replay.scenario import parse_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "plan_night.json"
ZONE = zoneinfo.ZoneInfo("Europe/Berlin")
Rows = list[dict[str, str]]


def run(data: dict[str, Any], out: Path, hours: float | None = None) -> Rows:
    replay, simulated = parse_scenario(data)
    Replay(replay, simulated, hours=hours).run(out)
    with (out / "trace.csv").open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def num(row: dict[str, str], key: str) -> float:
    return float(row[key]) if row[key] != "" else 0.0


def local(row: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(row["time"]).astimezone(ZONE)


def price(data: dict[str, Any], row: dict[str, str]) -> float:
    return float(data["product"]["tariff"]["purchase_per_kwh"][local(row).hour])


def ev_cost(data: dict[str, Any], rows: Rows, cycle_s: float) -> float:
    """What the car's grid energy cost: per cycle min(ev_w, purchase) at that hour's price."""
    return sum(
        min(num(r, "ev_w"), max(num(r, "grid_w"), 0.0)) * cycle_s / 3600.0 / 1000.0 * price(data, r) for r in rows
    )


def ev_wh(rows: Rows, cycle_s: float, until: dt.datetime | None = None) -> float:
    return sum(num(r, "ev_w") * cycle_s / 3600.0 for r in rows if until is None or local(r) <= until)


def test_the_plan_meets_the_target_by_seven_in_the_cheap_hours_for_less_than_power_mode(tmp_path: Path):
    data = json.loads(SCENARIO.read_text(encoding="utf-8"))
    cycle_s = float(data["cycle_s"])
    rows = run(data, tmp_path / "plan")
    departure = dt.datetime(2025, 11, 13, 7, 0, tzinfo=ZONE)
    # the target is met by 07:00
    assert ev_wh(rows, cycle_s, until=departure) >= 20_000 * 0.98
    # charging happens in the cheap hours only (22:00-06:00), none right at plug-in
    charging = [r for r in rows if num(r, "ev_w") > 50.0]
    assert charging
    assert all(price(data, r) == 0.22 for r in charging), {
        local(r).isoformat() for r in charging if price(data, r) != 0.22
    }
    assert "charging plan: 20.0 kWh by 07:00" in rows[0]["wallbox_1_reason"]
    assert num(rows[0], "ev_w") == 0.0

    power = copy.deepcopy(data)
    del power["product"]["wallboxes"][0]["plan"]
    power_rows = run(power, tmp_path / "power", hours=2.5)
    assert ev_wh(power_rows, cycle_s) >= 20_000 * 0.98  # its car is full too: the same energy
    assert num(power_rows[-1], "ev_w") == 0.0
    plan_cost, power_cost = ev_cost(data, rows, cycle_s), ev_cost(power, power_rows, cycle_s)
    assert plan_cost < power_cost
    # 20 kWh at 0.22 against 0.35: the plan costs what the night tariff says
    assert plan_cost < 20 * 0.22 * 1.05
    assert power_cost > 20 * 0.35 * 0.95


def test_plan_and_tariff_keys_are_checked_by_name():
    import pytest

    from replay.scenario import ReplayError

    data = json.loads(SCENARIO.read_text(encoding="utf-8"))
    bad = copy.deepcopy(data)
    bad["product"]["wallboxes"][0]["plan"]["depart"] = "07:00"
    with pytest.raises(ReplayError, match=r"product\.wallboxes\[0\]\.plan\.depart: unknown key"):
        parse_scenario(bad)
    bad = copy.deepcopy(data)
    bad["product"]["wallboxes"][0]["plan"]["departure"] = "7 o'clock"
    with pytest.raises(ReplayError, match=r"product\.wallboxes\[0\]\.plan\.departure: must be a local time"):
        parse_scenario(bad)
    bad = copy.deepcopy(data)
    bad["product"]["tariff"]["purchase_per_kwh"] = [0.3] * 23
    with pytest.raises(ReplayError, match=r"product\.tariff\.purchase_per_kwh"):
        parse_scenario(bad)
