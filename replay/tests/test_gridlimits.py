"""The grid operator's limits (LPC/LPP) in the replay: the limit store's state machine against
the simulated plant, judged from the trace and the history in the summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from replay.scenario import ReplayError, parse_scenario
from replay.tests.test_replay import replay


def at(row: dict[str, str]) -> dt.datetime:
    return dt.datetime.fromisoformat(row["time"])


def test_lpc_pauses_the_car_within_two_cycles_and_ends_on_time(tmp_path: Path) -> None:
    rows, summary = replay("lpc-car-4200.json", tmp_path)
    by_time = {r["time"][11:19]: r for r in rows}
    # Before the write the car charges at 11 kW (unlimited/autonomous after init).
    assert float(by_time["16:59:59"]["grid_w"]) > 12_000
    assert by_time["16:59:59"]["lpc_state"] == "unlimited_autonomous"
    # The write at 18:00 local (17:00 UTC): purchase over 4.2 kW for at most 2 cycles.
    assert summary["max_cycles_above_lpc"] <= 2
    during = [r for r in rows if r["lpc_w"] == "4200"]
    assert len(during) == 900
    assert all(r["lpc_state"] == "limited" for r in during)
    assert all(float(r["grid_w"]) <= 4_250 for r in during[2:])
    assert "LPC" in by_time["17:05:00"]["wallbox_1_reason"]
    # The limit ends on time: unlimited/controlled from 17:15:00 UTC, and the car charges again.
    assert by_time["17:15:00"]["lpc_state"] == "unlimited_controlled"
    assert float(by_time["17:16:00"]["grid_w"]) > 12_000
    # The history shows both transitions.
    consume = [e for e in summary["grid_limit_history"] if e["direction"] == "consume"]
    assert {
        "direction": "consume",
        "kind": "limited",
        "value_w": 4200.0,
        "valid_from": "2025-01-15T17:00:00+00:00",
        "valid_to": "2025-01-15T17:15:00+00:00",
    } in consume
    assert consume[-1]["kind"] == "unlimited" and consume[-1]["valid_from"] == "2025-01-15T17:15:00+00:00"
    assert "over SHIP/SPINE" in summary["note"] and "directly" not in summary["note"]


def test_lpp_at_noon_holds_feed_in_within_two_cycles(tmp_path: Path) -> None:
    rows, summary = replay("lpp-noon-3000.json", tmp_path)
    during = [r for r in rows if r["lpp_w"] == "3000"]
    assert len(during) == 900
    assert max(-float(r["grid_w"]) for r in during[:1]) > 3_050, "the scenario must need curtailment"
    assert summary["max_cycles_above_lpp"] <= 2
    assert all(-float(r["grid_w"]) <= 3_050 for r in during[3:])
    produce = [e for e in summary["grid_limit_history"] if e["direction"] == "produce"]
    assert [e["kind"] for e in produce][-2:] == ["limited", "unlimited"]


def test_heartbeat_lost_failsafe_after_120_s_not_earlier(tmp_path: Path) -> None:
    rows, summary = replay("lpc-heartbeat-loss.json", tmp_path)
    # The heartbeat stops at 18:05:00 local (17:05:00 UTC): the last one came 17:04:59.
    last_heartbeat = dt.datetime(2025, 1, 15, 17, 4, 59, tzinfo=dt.UTC)
    failsafe = [r for r in rows if r["lpc_state"] == "failsafe"]
    assert failsafe, "the lost heartbeat must lead to failsafe"
    assert at(failsafe[0]) == last_heartbeat + dt.timedelta(seconds=120)
    before = [r for r in rows if last_heartbeat < at(r) < last_heartbeat + dt.timedelta(seconds=120)]
    assert len(before) == 119 and all(r["lpc_state"] == "limited" and r["lpc_w"] == "8000" for r in before)
    # In failsafe the failsafe value (6 kW) holds, also after the heartbeat returns at 18:15 ...
    assert all(r["lpc_w"] == "6000" for r in failsafe)
    assert summary["max_cycles_above_lpc"] <= 2
    # ... until the next limit is written at 18:20 local.
    assert failsafe[-1]["time"][11:19] == "17:19:59"
    by_time = {r["time"][11:19]: r for r in rows}
    assert (by_time["17:20:00"]["lpc_state"], by_time["17:20:00"]["lpc_w"]) == ("limited", "9000")
    kinds = [e["kind"] for e in summary["grid_limit_history"] if e["direction"] == "consume"]
    assert kinds == ["failsafe", "unlimited", "limited", "failsafe", "limited"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"events": [{"at": "11:00", "eebus": "explode"}]}, "events[0].eebus"),
        ({"product": {"smartgrid": {"failsafe_duration_s": 3600}}}, "product.smartgrid.failsafe_duration_s"),
        ({"product": {"smartgrid": {"failsafe_consumption_w": -1}}}, "product.smartgrid.failsafe_consumption_w"),
        ({"product": {"smartgrid": {"failsafe": 1}}}, "product.smartgrid.failsafe: unknown key"),
        ({"events": [{"at": "11:00", "eebus": "heartbeat_stop", "duration_s": 5}]}, "duration_s is for"),
    ],
)
def test_bad_smartgrid_keys_are_refused_by_name(change: dict, message: str) -> None:
    base = {"start": "2025-06-21T10:00:00+00:00"}
    with pytest.raises(ReplayError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario({**base, **change})


def test_a_dropped_eebus_connection_goes_to_failsafe_and_a_reconnect_lets_the_next_limit_through(
    tmp_path: Path,
) -> None:
    rows, summary = replay("lpc-eebus-disconnect.json", tmp_path)
    by_time = {r["time"][11:19]: r for r in rows}
    # The box drops its SHIP connection at 18:05 local (17:05 UTC): the last heartbeat came 17:04:59.
    assert (by_time["17:06:58"]["lpc_state"], by_time["17:06:58"]["lpc_w"]) == ("limited", "8000")
    assert (by_time["17:06:59"]["lpc_state"], by_time["17:06:59"]["lpc_w"]) == ("failsafe", "6000")
    # A write while disconnected cannot arrive: the failsafe value holds and the summary says why.
    assert by_time["17:10:00"]["lpc_w"] == "6000"
    assert any("not connected" in reason for reason in summary["grid_limit_rejected"])
    # After the reconnect (18:15) the heartbeat is back and the next write at 18:20 is applied.
    assert (by_time["17:20:00"]["lpc_state"], by_time["17:20:00"]["lpc_w"]) == ("limited", "9000")
