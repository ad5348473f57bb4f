"""The replay's per-cycle trace (``trace.csv``) and the metrics computed from it alone.

The columns and metric names are a contract other tools read: see docs/replay.md. Sign
conventions: grid purchase (+) / feed-in (-), battery charge (+) / discharge (-). An empty
cell means unknown or absent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

# A limit counts as exceeded only beyond this (measurement noise, the meter's resolution).
TOLERANCE_W = 50.0
NOMINAL_VOLTAGE_V = 230.0

BASE_COLUMNS = (
    "time",
    "grid_w",
    "grid_l1_w",
    "grid_l2_w",
    "grid_l3_w",
    "grid_l1_a",
    "grid_l2_a",
    "grid_l3_a",
    "house_w",
    "house_l1_a",
    "house_l2_a",
    "house_l3_a",
    "pv_available_w",
    "pv_w",
    "battery_w",
    "battery_soc_pct",
    "ev_w",
    "ev_l1_a",
    "ev_l2_a",
    "ev_l3_a",
    "feed_in_limit_w",
    "lpc_w",
    "lpp_w",
    "fuse_a",
)
INVERTER_FIELDS = ("setpoint_pct", "w", "online")
WALLBOX_FIELDS = ("state", "mode", "phases", "current_a", "w", "reason")


def columns(inverters: int, wallboxes: int) -> tuple[str, ...]:
    per_inverter = [f"inverter_{n}_{f}" for n in range(1, inverters + 1) for f in INVERTER_FIELDS]
    per_wallbox = [f"wallbox_{n}_{f}" for n in range(1, wallboxes + 1) for f in WALLBOX_FIELDS]
    return (*BASE_COLUMNS, *per_inverter, *per_wallbox, "lpc_state", "cycle_ms")


def cell(value: Any) -> str:
    """One CSV cell: empty for unknown, 1/0 for booleans, numbers without needless digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


class TraceWriter:
    def __init__(self, stream: TextIO, header: Sequence[str]) -> None:
        self._header = tuple(header)
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(self._header)

    def write(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self._header)
        if unknown:
            raise KeyError(f"not trace columns: {', '.join(sorted(unknown))}")
        self._writer.writerow([cell(row.get(name)) for name in self._header])


def read_trace(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _number(row: Mapping[str, str], name: str) -> float | None:
    raw = row.get(name, "")
    return float(raw) if raw not in ("", None) else None


def metrics(rows: Iterable[Mapping[str, str]], cycle_s: float) -> dict[str, float | int]:
    """The summary's metrics, from the trace's rows alone (cells as written, strings)."""
    hours = cycle_s / 3600.0
    m: dict[str, float] = dict.fromkeys(
        (
            "feed_in_above_limit_wh",
            "feed_in_wh",
            "curtailed_wh",
            "curtailed_needed_wh",
            "over_fuse_as",
            "max_charging_unbalance_va",
            "ev_wh",
            "ev_grid_wh",
            "purchase_above_lpc_wh",
            "feed_in_above_lpp_wh",
            "purchase_wh",
        ),
        0.0,
    )
    runs = {"feed_in": 0, "fuse": 0, "lpc": 0, "lpp": 0}
    longest = dict.fromkeys(runs, 0)
    counts = {"charging_starts": 0, "charging_stops": 0}
    was_charging: bool | None = None
    for row in rows:
        grid = _number(row, "grid_w")
        feed_in = max(-(grid or 0.0), 0.0)
        purchase = max(grid or 0.0, 0.0)
        m["feed_in_wh"] += feed_in * hours
        m["purchase_wh"] += purchase * hours
        limit = _number(row, "feed_in_limit_w")
        lpp = _number(row, "lpp_w")
        lpc = _number(row, "lpc_w")
        available, delivered = _number(row, "pv_available_w"), _number(row, "pv_w")
        curtailed = max((available or 0.0) - (delivered or 0.0), 0.0) if available is not None else 0.0
        m["curtailed_wh"] += curtailed * hours
        bounds = [b for b in (limit, lpp) if b is not None]
        if bounds and grid is not None:
            # What would have been fed in without curtailment, minus what the tightest limit allowed.
            m["curtailed_needed_wh"] += max(-grid + curtailed - min(bounds), 0.0) * hours
        _excess(m, runs, longest, "feed_in", "feed_in_above_limit_wh", feed_in, limit, hours, grid)
        _excess(m, runs, longest, "lpp", "feed_in_above_lpp_wh", feed_in, lpp, hours, grid)
        _excess(m, runs, longest, "lpc", "purchase_above_lpc_wh", purchase, lpc, hours, grid)
        fuse = _number(row, "fuse_a")
        currents = [_number(row, f"grid_l{n}_a") for n in (1, 2, 3)]
        over_a = max((c or 0.0) - fuse for c in currents) if fuse is not None else 0.0
        if fuse is not None and over_a > 0:
            m["over_fuse_as"] += over_a * cycle_s
            runs["fuse"] += 1
            longest["fuse"] = max(longest["fuse"], runs["fuse"])
        else:
            runs["fuse"] = 0
        ev = _number(row, "ev_w") or 0.0
        m["ev_wh"] += ev * hours
        m["ev_grid_wh"] += min(ev, max(grid or 0.0, 0.0)) * hours
        ev_currents = [_number(row, f"ev_l{n}_a") or 0.0 for n in (1, 2, 3)]
        m["max_charging_unbalance_va"] = max(
            m["max_charging_unbalance_va"], (max(ev_currents) - min(ev_currents)) * NOMINAL_VOLTAGE_V
        )
        charging = ev > TOLERANCE_W
        if was_charging is not None and charging != was_charging:
            counts["charging_starts" if charging else "charging_stops"] += 1
        was_charging = charging
    result: dict[str, float | int] = {name: round(value, 3) for name, value in m.items()}
    result.update(
        max_cycles_above_feed_in_limit=longest["feed_in"],
        max_cycles_over_fuse=longest["fuse"],
        max_cycles_above_lpc=longest["lpc"],
        max_cycles_above_lpp=longest["lpp"],
        **counts,
    )
    return result


def _excess(
    m: dict[str, float],
    runs: dict[str, int],
    longest: dict[str, int],
    kind: str,
    energy_key: str,
    flow_w: float,
    limit_w: float | None,
    hours: float,
    grid: float | None,
) -> None:
    if limit_w is None or grid is None:
        runs[kind] = 0
        return
    m[energy_key] += max(flow_w - limit_w, 0.0) * hours
    if flow_w > limit_w + TOLERANCE_W:
        runs[kind] += 1
        longest[kind] = max(longest[kind], runs[kind])
    else:
        runs[kind] = 0
