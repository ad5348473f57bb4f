"""Charging control quality, judged from the replay's trace: the product's own cycle with the
real ENECTOR driver over loopback sockets against the simulated boxes, cars and plant, in
stepped time (issue 6, "Control quality").

Each scenario is short in simulated time but long enough for the timers it is about (start
delay 1 min, cloud hysteresis 5 min, resume 8 min, 3-phase check 15 min)."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from replay.engine import Replay
from replay.scenario import load_replay_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "simulator" / "scenarios"
V = 230.0
Rows = list[dict[str, str]]


def replay(source: str | dict[str, Any], out: Path, **kwargs: Any) -> tuple[Rows, dict[str, Any]]:
    if isinstance(source, str):
        scenario, simulated = load_replay_scenario(SCENARIOS / source)
    else:
        scenario, simulated = parse_scenario(source)
    summary = Replay(scenario, simulated, **kwargs).run(out)
    with (out / "trace.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    return rows, summary


def num(row: dict[str, str], key: str) -> float:
    return float(row[key]) if row[key] != "" else 0.0


def when(row: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(row["time"])


def charging(row: dict[str, str], n: int = 1) -> bool:
    return row[f"wallbox_{n}_state"] == "charging"


def surplus_w(row: dict[str, str]) -> float:
    """What PV delivers beyond the house (no battery in these scenarios): simulator truth."""
    return num(row, "pv_w") - num(row, "house_w")


def edges(rows: Rows, n: int = 1) -> tuple[list[int], list[int]]:
    """Row indexes where box ``n`` started and stopped drawing current, as the box reported it.

    A cycle in which the product could not read the box (an empty cell: a reply lost on a busy
    machine) is no edge: the box keeps the state it last reported."""
    starts, stops = [], []
    was = False
    for k, row in enumerate(rows):
        if row[f"wallbox_{n}_w"] == "":
            continue
        now = num(row, f"wallbox_{n}_w") > 50.0
        if now and not was and k > 0:
            starts.append(k)
        elif was and not now:
            stops.append(k)
        was = now
    return starts, stops


def unread(rows: Rows, n: int = 1, settle: int = 3) -> set[str]:
    """The times of the cycles in which box ``n`` could not be read (a reply lost on a busy
    machine: the controllers see no box) and of the ``settle`` cycles after each, in which the
    plant follows the controllers' first decision with the box back."""
    times: set[str] = set()
    for k, row in enumerate(rows):
        if row[f"wallbox_{n}_reason"].startswith("offline"):
            times.update(r["time"] for r in rows[k : k + 1 + settle])
    return times


# --- Solar Pure on a cloudy morning, against evcc's PV mode ------------------------------------
@pytest.fixture(scope="module")
def morning(tmp_path_factory) -> dict[str, tuple[Rows, dict[str, Any]]]:
    return {
        policy: replay("wallbox-solar-pure-morning.json", tmp_path_factory.mktemp(policy), policy=policy)
        for policy in ("product", "evcc")
    }


def april_afternoon() -> dict[str, Any]:
    """The morning's plant on an April afternoon, 13:30-14:30 local time (cloudiness 0.7, a
    7-minute cloud at 14:10, the car plugged in at 13:30): the hour ``bench/solar_rhythm.py``
    calls ``april``."""
    base = json.loads((SCENARIOS / "wallbox-solar-pure-morning.json").read_text(encoding="utf-8"))
    box = base["wallboxes"][0]
    return dict(
        base,
        start="2025-04-15T11:30:00+00:00",
        cloudiness=0.7,
        events=[{"at": "14:10:00", "cloud": 0.7, "for_s": 420}],
        wallboxes=[dict(box, cars=[dict(box["cars"][0], plug="13:30:00")])],
    )


@pytest.fixture(scope="module")
def april(tmp_path_factory) -> dict[str, tuple[Rows, dict[str, Any]]]:
    """Another cloudy trace: shallow dips the product rides out where evcc restarts (seed 5)."""
    return {
        policy: replay(april_afternoon(), tmp_path_factory.mktemp(f"april-{policy}"), policy=policy, seed=5)
        for policy in ("product", "manual", "evcc")
    }


def test_solar_pure_starts_on_a_minute_of_surplus_and_pauses_within_the_manuals_5_minutes(morning):
    """The manual's timers are the outer bound (docs/wallbox.md "Solar Pure in passing clouds"):
    a pause never comes later than 5 min at the minimum current, and sooner only for a reason the
    trace shows: after 3 min when the grid pays 400 W or more of the car's minimum, or in a cloud
    bank. A restart needs a minute of enough surplus without a break, and no 8-minute wait."""
    rows, summary = morning["product"]
    assert summary["ev_wh"] > 1_000, "the morning must charge the car"
    starts, stops = edges(rows)
    assert starts, "charging must start"
    assert stops, "the long cloud must pause charging"
    for k in starts:
        # The release was decided on what the meter showed: 4.1 kW (6 A on 3 phases) for the
        # minute before, measured with the car's own draw taken out (it drew nothing).
        before = rows[max(k - 61, 0) : k - 1]
        assert min(surplus_w(r) for r in before) >= 4_140 - 150, (rows[k]["time"], min(map(surplus_w, before)))
    reasons = []
    for stop in stops:
        began = stop
        while began > 0 and "cloud hysteresis" in rows[began - 1]["wallbox_1_reason"]:
            began -= 1
        held_s = stop - began
        assert held_s <= 300 + 2, (rows[stop]["time"], held_s)  # never later than the manual
        why = " ".join(r["wallbox_1_reason"] for r in rows[max(stop - 2, 0) : stop + 1])
        if "a cloud bank" in why:
            # Sooner in a bank, but only where the 5-minute rule would have paused too: its edge
            # is seen a cycle late; from then on no sun came back for the 5 minutes.
            assert held_s >= 60, (rows[stop]["time"], held_s)
            assert max(surplus_w(r) for r in rows[began + 1 : began + 300]) < 4_140, rows[stop]["time"]
            reasons.append("bank")
        elif "the grid paid" in why:
            # After 3 min, with the grid paying at least 400 W of the 4.14 kW just before.
            assert held_s >= 180 - 2, (rows[stop]["time"], held_s)
            assert min(surplus_w(r) for r in rows[stop - 3 : stop]) <= 4_140 - 400 + 150, rows[stop]["time"]
            reasons.append("grid")
        else:
            assert held_s >= 300 - 5, (rows[stop]["time"], held_s)
            reasons.append("5 min")
    resumed = [
        (when(rows[start]) - when(rows[stop])).total_seconds()
        for stop, start in zip(stops, [s for s in starts if s > stops[0]], strict=False)
    ]
    # The sun back for a minute restarts the car: on this morning sooner than the manual's 8 min.
    assert resumed and min(resumed) < 480, (reasons, resumed)


def test_solar_pure_buys_for_the_car_only_inside_cloud_hysteresis(morning):
    rows, _ = morning["product"]
    bought = [
        r
        for r in rows
        if min(num(r, "ev_w"), max(num(r, "grid_w"), 0.0)) > 100.0 and "hysteresis" not in r["wallbox_1_reason"]
    ]
    # A cloud's edge is seen one cycle later; beyond that, grid power for the car only while the
    # hysteresis holds the minimum current.
    in_a_row = max((len(list(g)) for _, g in itertools.groupby(when(r) for r in bought)), default=0)
    assert len(bought) <= 0.01 * len(rows), [r["time"] for r in bought[:10]]
    assert in_a_row <= 3


def solar_wh(summary: dict[str, Any]) -> float:
    return float(summary["ev_wh"] - summary["ev_grid_wh"])


def grid_share_pct(summary: dict[str, Any]) -> float:
    return 100.0 * summary["ev_grid_wh"] / summary["ev_wh"] if summary["ev_wh"] else 0.0


def test_solar_pure_beats_evcc_on_solar_energy_grid_share_and_starts_on_the_cloudy_morning(morning):
    product, evcc = morning["product"][1], morning["evcc"][1]
    assert (product["policy"], evcc["policy"]) == ("product", "evcc")
    assert solar_wh(evcc) > 1_000, "the reference must charge too, or the comparison says nothing"
    assert solar_wh(product) >= solar_wh(evcc), (solar_wh(product), solar_wh(evcc))
    assert grid_share_pct(product) <= grid_share_pct(evcc), (grid_share_pct(product), grid_share_pct(evcc))
    assert product["charging_starts"] <= evcc["charging_starts"]


def test_solar_pure_beats_evcc_and_the_manuals_timers_on_an_april_afternoon(april):
    """A second cloudy trace: no worse than evcc on any count, and less grid share than the
    manual's timers alone (their 8-minute wait and 5 minutes of grid on every deep dip)."""
    product, manual, evcc = (april[p][1] for p in ("product", "manual", "evcc"))
    assert (product["policy"], manual["policy"], evcc["policy"], product["seed"]) == ("product", "manual", "evcc", 5)
    assert solar_wh(evcc) > 1_000
    assert solar_wh(product) >= solar_wh(evcc), (solar_wh(product), solar_wh(evcc))
    assert grid_share_pct(product) <= grid_share_pct(evcc), (grid_share_pct(product), grid_share_pct(evcc))
    assert product["charging_starts"] <= evcc["charging_starts"]
    assert grid_share_pct(product) <= grid_share_pct(manual) - 0.5, (grid_share_pct(product), grid_share_pct(manual))


# --- automatic phase usage ---------------------------------------------------------------------
def test_automatic_phase_usage_starts_on_1_phase_goes_to_3_at_a_check_and_back_after_5_minutes(tmp_path):
    rows, _ = replay("wallbox-phase-auto.json", tmp_path)
    starts, _ = edges(rows)
    assert starts, "charging must start"
    first = rows[starts[0]]
    assert first["wallbox_1_phases"] == "1", "2.5 kW of surplus is too little for 3 phases"
    assert 1_400 <= surplus_w(rows[starts[0] - 1]) < 4_140
    released = next(when(r) for r in rows if num(r, "wallbox_1_current_a") > 0)
    changes = [
        (when(a), a) for b, a in itertools.pairwise(rows[starts[0] :]) if a["wallbox_1_phases"] != b["wallbox_1_phases"]
    ]
    assert [row["wallbox_1_phases"] for _, row in changes] == ["3", "1"], [
        (t, r["wallbox_1_reason"]) for t, r in changes
    ]
    (up_at, up), (down_at, down) = changes
    # Up only at the 15-minute check after charging was released, with the surplus 7 % above 4.14 kW.
    assert (up_at - released).total_seconds() >= 900 - 2
    assert surplus_w(up) >= 1.07 * 4_140 - 150
    assert "3 phases" in up["wallbox_1_reason"]
    # Down after 5 minutes of shortfall (the load came at 12:20 local = 10:20 UTC).
    shortfall_from = dt.datetime(2025, 6, 21, 10, 20, tzinfo=dt.UTC)
    assert 300 - 2 <= (down_at - shortfall_from).total_seconds() <= 300 + 90
    assert "1 phase" in down["wallbox_1_reason"]
    # Every switch is visible as a change of the box's phases with its reason (the log's source),
    # and the car draws on as many phases as the box was switched to.
    end = rows[-1]
    assert end["wallbox_1_phases"] == "1" and charging(end)
    assert sum(num(end, f"ev_l{n}_a") > 1.0 for n in (1, 2, 3)) == 1


# --- main fuse ---------------------------------------------------------------------------------
def test_the_fuse_holds_on_every_phase_and_charging_recovers_when_the_load_goes(tmp_path):
    rows, summary = replay("wallbox-fuse-35a.json", tmp_path)
    assert summary["max_cycles_over_fuse"] <= 1
    # A phase reads over its fuse only in the cycle whose measurement shows a house load step
    # (answered in that same cycle); meter noise and a load creeping up stay under it (margin).
    for before, row in itertools.pairwise(rows):
        over = [n for n in (1, 2, 3) if num(row, f"grid_l{n}_a") > 35.0]
        for n in over:
            step_a = num(row, f"house_l{n}_a") - num(before, f"house_l{n}_a")
            assert step_a > 1.0, (row["time"], num(row, f"grid_l{n}_a"), step_a)
    by_time = {r["time"][11:19]: r for r in rows}
    # 16 A before the loads (23:00 local = 19:00 UTC; loads from 21:02 local).
    assert num(by_time["19:01:50"], "wallbox_1_current_a") == pytest.approx(16.0)
    # 5 kW on L1 (~22 A): the car is lowered so that L1 stays under 35 A, not paused.
    lowered = by_time["19:05:00"]
    assert 6.0 <= num(lowered, "wallbox_1_current_a") < 16.0
    assert "fuse" in lowered["wallbox_1_reason"]
    assert num(lowered, "grid_l1_a") <= 35.0 - 0.3
    # 6.2 kW on L1 (~27 A) with the house leaves less than 6 A: paused, saying why.
    paused = by_time["19:07:30"]
    assert num(paused, "ev_w") < 50.0 and "fuse" in paused["wallbox_1_reason"]
    # The load is gone at 21:08 local: back to 16 A.
    assert num(rows[-1], "wallbox_1_current_a") == pytest.approx(16.0)
    assert charging(rows[-1])


# --- unbalanced load ---------------------------------------------------------------------------
def test_two_1_phase_cars_on_one_phase_stay_within_the_unbalance_limit_and_both_charge(tmp_path):
    rows, summary = replay("wallbox-unbalance.json", tmp_path)
    assert summary["max_charging_unbalance_va"] <= 4_600.0 + 0.5 * V  # the box's current resolution
    both = [r for r in rows if charging(r, 1) and charging(r, 2)]
    assert len(both) >= 0.5 * len(rows), "both cars charge, sharing the allowance"
    end = rows[-1]
    assert num(end, "ev_l1_a") <= 4_600.0 / V + 0.5 and num(end, "ev_l2_a") == 0.0
    assert abs(num(end, "wallbox_1_current_a") - num(end, "wallbox_2_current_a")) <= 0.2, "shared fairly"
    assert "unbalance" in end["wallbox_1_reason"]


# --- Time Mode across the DST changes ----------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "lock_from_utc"),
    [
        pytest.param("2025-10-26", "07:00:00", id="clocks go back"),
        pytest.param("2025-03-30", "06:00:00", id="clocks go forward"),
    ],
)
def test_time_mode_locks_at_8_local_time_on_the_days_the_clocks_change(tmp_path, day: str, lock_from_utc: str):
    data = json.loads((SCENARIOS / "wallbox-time-mode-dst.json").read_text())
    start = dt.datetime.fromisoformat(f"{day}T{lock_from_utc}+00:00") - dt.timedelta(minutes=10)
    data["start"] = start.isoformat()
    data["wallboxes"][0]["cars"][0]["plug"] = start.isoformat()
    rows, _ = replay(data, tmp_path)
    lock_at = dt.datetime.fromisoformat(f"{day}T{lock_from_utc}+00:00")
    before = [r for r in rows if when(r) < lock_at]
    after = [r for r in rows if when(r) >= lock_at]
    assert {r["wallbox_1_mode"] for r in before} == {"power"}
    assert {r["wallbox_1_mode"] for r in after} == {"lock"}
    assert charging(before[-1]) and num(before[-1], "ev_w") > 10_000
    assert after[0]["wallbox_1_current_a"] == "0" and "lock" in after[0]["wallbox_1_reason"]
    # The box stops at once; the car's current follows within a few seconds.
    assert all(num(r, "ev_w") < 50.0 for r in after[3:])


# --- a car whose phases are not known yet (issue 13.10) -----------------------------------------
def test_a_car_plugged_in_beside_a_charging_one_counts_at_its_worst_until_its_phases_are_known(tmp_path):
    """Two 1-phase cars at two 3-phase boxes on the same phase: the second plugs in while the
    first charges at 16 A. Not one cycle may put more than the unbalance limit on L1."""
    rows, summary = replay("wallbox-unknown-phases.json", tmp_path)
    plugged = next(k for k, r in enumerate(rows) if r["wallbox_2_state"] != "no_vehicle")
    before = rows[plugged - 1]
    assert charging(before, 1) and num(before, "ev_l1_a") >= 15.5, "the first car charged at 16 A alone"
    assert num(before, "ev_l2_a") == 0.0 and num(before, "ev_l3_a") == 0.0, "on L1 only"
    for row in rows:
        currents = [num(row, f"ev_l{p}_a") for p in (1, 2, 3)]
        unbalance_va = (max(currents) - min(currents)) * V
        assert unbalance_va <= 4_600.0 + 0.5 * V, f"{row['time']}: {currents} A from the cars"
    assert summary["max_charging_unbalance_va"] <= 4_600.0 + 0.5 * V
    # The plug-in cycle itself already shares: the new box gets no more than L1 has left.
    first = rows[plugged]
    assert num(first, "wallbox_1_current_a") + num(first, "wallbox_2_current_a") <= 4_600.0 / V + 0.5
    end = rows[-1]
    assert charging(end, 1) and charging(end, 2), "both cars charge"
    assert abs(num(end, "wallbox_1_current_a") - num(end, "wallbox_2_current_a")) <= 0.2, "shared fairly"


# --- two boxes on one RS485 line (MB-3, WB-14) -------------------------------------------------
def test_two_boxes_on_one_line_both_charge_and_never_collide(tmp_path):
    rows, summary = replay("wallbox-one-line.json", tmp_path)
    both = [r for r in rows if charging(r, 1) and charging(r, 2)]
    assert len(both) >= 0.5 * len(rows), "both boxes on line B charge"
    assert num(rows[-1], "wallbox_1_w") > 10_000 and num(rows[-1], "wallbox_2_w") > 10_000
    (line,) = summary["rs485"].values()
    assert line["requests"] >= 2 * 7 * len(rows), "every cycle reads both boxes over the one line"
    assert line["collisions"] == 0 and line["crc_errors"] == 0


def test_an_inverter_on_the_boxes_line_is_read_over_it_in_the_replay(tmp_path: Path) -> None:
    """An inverter scenario naming the boxes' line: the product reaches it as Modbus RTU on that
    line through the line's one bus, and the line counts no collision."""
    source = json.loads((SCENARIOS / "wallbox-one-line.json").read_text(encoding="utf-8"))
    source.update(
        start="2025-06-21T10:00:00+00:00",
        hours=0.02,
        inverters=[{"name": "mp", "type": "piko_mp_plus", "max_ac_w": 5000, "line": "B", "address": 1}],
    )
    for box in source["wallboxes"]:
        box["cars"][0]["plug"] = "00:00:00"  # plugged in all day
    rows, summary = replay(source, tmp_path)
    assert all(row["inverter_1_online"] == "1" for row in rows), "the inverter answers on the shared line"
    assert num(rows[-1], "inverter_1_w") > 0
    assert all(charging(row, 1) for row in rows[-10:]), "the box on the same line charges"
    (line,) = summary["rs485"].values()
    assert line["collisions"] == 0 and line["crc_errors"] == 0


def test_a_box_that_drops_off_the_bus_for_seconds_keeps_the_car_charging_and_is_read_again(tmp_path: Path) -> None:
    """The box's port goes away for 5 s while a car charges in Power mode (a lost reply, a
    reconnecting adapter). The product commands nothing it cannot send, so the car charges on at
    the current it had; the box is read again once it answers, and the outage is no stop."""
    source = json.loads((SCENARIOS / "wallbox-one-line.json").read_text(encoding="utf-8"))
    box = source["wallboxes"][0]
    del box["line"]  # alone on its own port: offline closes it
    box["cars"][0]["plug"] = "00:00:00"
    source.update(
        hours=0.05,
        wallboxes=[box],
        product={"mains": {"phases": 3, "fuse_a": 63}, "wallboxes": [{"mode": "power"}]},
        events=[{"at": "21:01:00", "device": "left", "fault": "offline", "duration_s": 5}],
    )
    rows, _ = replay(source, tmp_path)
    out = [k for k, r in enumerate(rows) if r["wallbox_1_reason"].startswith("offline")]
    assert out, "the outage is seen"
    assert out[-1] - out[0] + 1 == len(out) and len(out) <= 15, "one outage, over soon after the port is back"
    charged = next(k for k, r in enumerate(rows) if num(r, "ev_w") > 10_000)
    assert charged < out[0]
    assert all(num(r, "ev_w") > 10_000 for r in rows[charged:]), "the car never stopped"
    assert all(charging(r) for r in rows[out[-1] + 1 :]), "read again, charging"
    starts, stops = edges(rows)
    assert not stops and all(k < out[0] for k in starts), "an unreadable box is neither a stop nor a start"


# --- house battery use per mode (WB-7) ----------------------------------------------------------
def test_time_mode_keeps_the_battery_out_of_power_and_drains_it_in_solar_pure_at_night(tmp_path):
    """A night in Time Mode: Power until 23:00 with the battery not used, then Solar Pure with it
    used. A PIKO MP plus battery under battery management (minimum SoC 10 %), no PV."""
    rows, _ = replay("wallbox-battery-night.json", tmp_path)
    switch = dt.datetime(2025, 6, 20, 21, 0, tzinfo=dt.UTC)  # 23:00 local
    power = [r for r in rows if when(r) < switch][5:]  # the car's first seconds aside
    solar = [r for r in rows if when(r) >= switch]
    assert {r["wallbox_1_mode"] for r in power} == {"power"} and {r["wallbox_1_mode"] for r in solar} == {"solar_pure"}
    # Power, battery not used: the car charges at 16 A from the grid, the battery covers the house.
    assert all(num(r, "ev_w") > 10_000 for r in power)
    # A cycle that cannot read the box keeps it out with its last draw (and a test of its own).
    assert all(num(r, "battery_w") >= -(num(r, "house_w") + 150) for r in power), "no battery power for the car"
    hiccups = unread(rows)
    assert len(hiccups) <= 0.01 * len(rows), "the box answers"
    assert num(power[-1], "battery_soc_pct") >= 42.0
    # Solar Pure, battery used: it keeps charging with no PV at all, from the battery, down to 10 %.
    drained = [r for r in solar if charging(r) and num(r, "battery_w") < -4_000]
    assert len(drained) >= 0.5 * 9 * 60 / 2, "about 9 minutes from the battery"
    bought = [r for r in drained[3:] if num(r, "grid_w") > 200]
    assert not bought, [(r["time"], r["grid_w"]) for r in bought[:5]]
    assert "house battery" in drained[-1]["wallbox_1_reason"]
    empty = next(k for k, r in enumerate(solar) if num(r, "battery_soc_pct") <= 10.05)
    assert all(r in drained for r in solar[5 : empty - 5] if r["time"] not in hiccups), (
        "charged from the battery until its minimum"
    )
    # At the minimum: 5 minutes of hysteresis at the minimum current (from the grid), then a pause.
    after = solar[empty + 5 :]
    assert all(num(r, "battery_w") > -100 for r in after), "the battery stops at its minimum SoC"
    stopped = next(r for r in after if num(r, "ev_w") < 50)
    assert 300 - 10 <= (when(stopped) - when(solar[empty])).total_seconds() <= 300 + 30
    assert num(rows[-1], "battery_soc_pct") >= 9.9 and num(rows[-1], "ev_w") < 50


def test_a_box_that_misses_replies_in_power_mode_is_still_kept_out_of_the_battery(tmp_path: Path) -> None:
    """The night's Power hour, with the box silent for a moment (its port closed for 1 s): the
    cycles that cannot read it keep its car out of the battery with the draw it last showed."""
    data = json.loads((SCENARIOS / "wallbox-battery-night.json").read_text(encoding="utf-8"))
    data["hours"] = 0.1
    data["events"] = [{"at": "22:44:00", "device": "carport", "fault": "offline", "duration_s": 1}]
    rows, _ = replay(data, tmp_path)
    out = [r for r in rows if r["wallbox_1_reason"].startswith("offline")]
    assert out, "the box missed its replies"
    assert all(num(r, "ev_w") > 10_000 for r in rows[5:]), "the car charged on"
    covered = [
        (r["time"], r["battery_w"], r["house_w"]) for r in rows[5:] if num(r, "battery_w") < -(num(r, "house_w") + 150)
    ]
    assert not covered, covered


def test_the_old_single_battery_setting_uses_the_battery_in_every_mode(tmp_path):
    data = json.loads((SCENARIOS / "wallbox-battery-night.json").read_text())
    data["hours"] = 0.2
    data["product"]["wallboxes"][0]["battery_use"] = True
    rows, _ = replay(data, tmp_path)
    power = rows[10:]
    assert {r["wallbox_1_mode"] for r in power} == {"power"}
    # Power mode with the battery used: it discharges at its maximum into the car.
    assert all(num(r, "battery_w") < -5_900 for r in power[5:])
