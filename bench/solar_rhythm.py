"""Solar Pure against evcc's PV mode over many cloudy hours (issue 19 part 4): how general is
what the replay's two Solar Pure comparisons show?

The replay runs the whole product and takes minutes an hour on a shared machine; this runs the
three charging policies on the simulator's own surplus (PV the clouds leave, less the house, per
second, from ``simulator.model.PlantModel`` with the scenario's seed and its scripted clouds) as
a per-second model of their timers, so 22 hours take seconds:

- ``evcc``: minimum current while short, off after 3 min; on again after 1 min of enough surplus;
- ``manual``: the manual's cloud hysteresis (5 min at the minimum current, resume no sooner than
  8 min after the pause; the 1-minute start delay runs during the wait);
- ``look_ahead``: the product: the manual's timers as the outer bound, inside them the pause
  after 3 min when the grid pays 400 W or more of the minimum, sooner in a cloud bank, and the
  restart after 1 min of enough surplus with no 8-minute wait (``wallbox.clouds.pause_now`` and
  ``resume_wait_s``, the product's own functions and constants).

All three follow the surplus up to the car's maximum (16 A on three phases) above the minimum
(6 A, 4.14 kW). On the morning scenario the model is within 1 % of the replay's figures (see
docs/wallbox.md). Results: ``bench/results/solar_rhythm.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
MORNING = ROOT / "simulator" / "scenarios" / "wallbox-solar-pure-morning.json"
MIN_W = 6 * 3 * 230.0
MAX_W = 16 * 3 * 230.0


def variants() -> list[tuple[str, dict[str, Any], range]]:
    """The morning scenario as it is, a later and cloudier hour with no scripted cloud, and an
    April afternoon with one 7-minute cloud: (name, scenario, seeds)."""
    base = json.loads(MORNING.read_text(encoding="utf-8"))

    def plug(at: str) -> list[dict[str, Any]]:
        box = base["wallboxes"][0]
        return [dict(box, cars=[dict(box["cars"][0], plug=at)])]

    later = dict(base, start="2025-06-21T08:30:00+00:00", cloudiness=0.85, events=[], wallboxes=plug("10:30:00"))
    april = dict(
        base,
        start="2025-04-15T11:30:00+00:00",
        cloudiness=0.7,
        events=[{"at": "14:10:00", "cloud": 0.7, "for_s": 420}],
        wallboxes=plug("13:30:00"),
    )
    return [("morning", base, range(1, 11)), ("later_cloudier", later, range(1, 7)), ("april", april, range(1, 7))]


def surplus_w(data: dict[str, Any], seed: int) -> list[float]:
    """What PV delivers beyond the house, once a second, as the replay's trace has it."""
    from replay.scenario import event_time, parse_scenario
    from simulator.model import PlantModel

    replay, scenario = parse_scenario(data)
    start = scenario.start
    assert start is not None
    model = PlantModel(scenario, seed=seed, start=start)
    if replay.house_phase_split is not None:
        split = replay.house_phase_split
        model.set_house_phase_split((split[0], split[1], split[2]))
    clouds = sorted(
        (event_time(e.at, scenario), e.cloud or 0.0, e.for_s or 0.0) for e in replay.events if e.kind == "cloud"
    )
    out = []
    for n in range(1, int(replay.hours * 3600) + 1):
        now = start + dt.timedelta(seconds=n)
        while clouds and clouds[0][0] <= now:
            at, fraction, for_s = clouds.pop(0)
            model.set_cloud(fraction, until=at + dt.timedelta(seconds=for_s))
        model.advance(now)
        truth = model.truth()
        out.append(truth.pv_available_w - truth.house_w)
    return out


@dataclasses.dataclass
class Result:
    ev_wh: float = 0.0
    grid_wh: float = 0.0
    starts: int = 0

    def as_json(self) -> dict[str, float]:
        return {
            "solar_wh": round(self.ev_wh - self.grid_wh, 1),
            "grid_share_pct": round(100 * self.grid_wh / self.ev_wh, 2) if self.ev_wh else 0.0,
            "starts": self.starts,
        }


def evcc(surplus: list[float]) -> Result:
    r, on, enable, disable = Result(), False, None, None
    for t, w in enumerate(surplus):
        if on:
            if w < MIN_W:
                disable = t if disable is None else disable
                if t - disable >= 180:
                    on, disable = False, None
                    continue
                r.ev_wh += MIN_W / 3600
                r.grid_wh += (MIN_W - w) / 3600
            else:
                disable = None
                r.ev_wh += min(w, MAX_W) / 3600
        elif w >= MIN_W:
            enable = t if enable is None else enable
            if t - enable >= 60:
                on, enable = True, None
                r.starts += 1
                r.ev_wh += MIN_W / 3600
        else:
            enable = None
    return r


def solar_pure(surplus: list[float], look_ahead: bool) -> Result:
    from wallbox import clouds

    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    r, on, enough, short, paused, lacking = Result(), False, None, None, None, None
    spells: tuple[clouds.Spell, ...] = ()
    for t, w in enumerate(surplus):
        now = t0 + dt.timedelta(seconds=t)
        if w < MIN_W:
            lacking = t if lacking is None else lacking
        elif lacking is not None:
            spells = clouds.remember(spells, clouds.Spell(now, float(t - lacking)))
            lacking = None
        if on:
            if w < MIN_W:
                short = t if short is None else short
                age = float(t - short)
                early = look_ahead and clouds.pause_now(age, w, MIN_W, 0.0, clouds.recent(spells, now))
                if age >= clouds.HYSTERESIS_S or early:
                    on, short, paused, enough = False, None, t, None
                    continue
                r.ev_wh += MIN_W / 3600
                r.grid_wh += (MIN_W - w) / 3600
            else:
                short = None
                r.ev_wh += min(w, MAX_W) / 3600
        else:
            enough = (t if enough is None else enough) if w >= MIN_W else None
            waited = paused is None or t - paused >= clouds.resume_wait_s(look_ahead)
            if enough is not None and t - enough >= 60 and waited:
                on, enough = True, None
                r.starts += 1
                r.ev_wh += MIN_W / 3600
    return r


def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` no less solar, no higher grid share, no more starts than ``b``."""
    return a["solar_wh"] >= b["solar_wh"] and a["grid_share_pct"] <= b["grid_share_pct"] and a["starts"] <= b["starts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    import django

    django.setup()
    traces: dict[str, dict[str, dict[str, float]]] = {}
    for name, data, seeds in variants():
        for seed in seeds:
            surplus = surplus_w(data, seed)
            traces[f"{name}/{seed}"] = {
                "evcc": evcc(surplus).as_json(),
                "manual": solar_pure(surplus, look_ahead=False).as_json(),
                "look_ahead": solar_pure(surplus, look_ahead=True).as_json(),
            }
            row = traces[f"{name}/{seed}"]
            print(name, seed, *(f"{p}: {v}" for p, v in row.items()), flush=True)
    result = {
        "traces": traces,
        "look_ahead_beats_evcc": sum(beats(t["look_ahead"], t["evcc"]) for t in traces.values()),
        "manual_beats_evcc": sum(beats(t["manual"], t["evcc"]) for t in traces.values()),
        "look_ahead_no_worse_than_manual": sum(beats(t["look_ahead"], t["manual"]) for t in traces.values()),
        "look_ahead_better_than_evcc_on_some_count": sum(
            beats(t["look_ahead"], t["evcc"]) and t["look_ahead"] != t["evcc"] for t in traces.values()
        ),
        "traces_count": len(traces),
    }
    for policy in ("evcc", "manual", "look_ahead"):
        rows = [t[policy] for t in traces.values()]
        result[f"{policy}_mean"] = {
            "solar_wh": round(sum(r["solar_wh"] for r in rows) / len(rows), 1),
            "grid_share_pct": round(sum(r["grid_share_pct"] for r in rows) / len(rows), 2),
            "starts": round(sum(r["starts"] for r in rows) / len(rows), 2),
        }
    targets = {"look_ahead_beats_evcc": "every trace (issue 19.4: no less solar, no higher grid share, no more starts)"}
    write_result("solar_rhythm", result, targets)


if __name__ == "__main__":
    main()
