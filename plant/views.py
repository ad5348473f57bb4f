"""The dashboard (PL-3). Formatting and live context shared with other pages: ``plant.presentation``.

Pages are rendered once on the server from the latest snapshot in Redis, so they are meaningful
before the websocket connects (and readable without JavaScript); the page's script then keeps
them current from ``ws/plants/<id>/live/``. Formatting rules in ``plant.presentation`` and ``static/js/live.js``
must stay the same, or values would jump when the first live message arrives.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from plant.presentation import IDLE_POWER_W, format_energy_kwh, format_number, format_power, live_page_context


def flow_direction(node: str, power_w: float | None) -> str:
    """Which way energy moves on the line between a node and the house (mirrored in dashboard.js)."""
    if power_w is None:
        return "none"
    if abs(power_w) < IDLE_POWER_W:
        return "idle"
    # grid: purchase (+) flows in; battery: discharge (-) flows in; wallbox always draws from the house.
    flows_in = {"pv": power_w > 0, "grid": power_w > 0, "battery": power_w < 0, "wallbox": False}[node]
    return "to-house" if flows_in else "from-house"


def flow_caption(node: str, power_w: float | None) -> str:
    if power_w is None:
        return _("not configured")
    if abs(power_w) < IDLE_POWER_W:
        return _("Idle")
    captions = {
        "pv": _("Production"),
        "grid": _("Purchase") if power_w > 0 else _("Feed-in"),
        "battery": _("Charging") if power_w > 0 else _("Discharging"),
        "house": _("Consumption"),
        "wallbox": _("Charging"),
    }
    return captions[node]


def flow_nodes(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    flow = state["flow"] if state else {}
    nodes = {}
    for node in ("pv", "grid", "house", "battery", "wallbox"):
        power_w = flow.get(f"{node}_power_w")
        nodes[node] = {
            "value_w": power_w,
            "text": format_power(power_w),
            "caption": flow_caption(node, power_w) if state else "",
            "direction": flow_direction(node, power_w) if node != "house" else "none",
            "missing": state is not None and power_w is None,
        }
    return nodes


def chart_labels() -> dict[str, str]:
    return {
        "grid": _("Grid"),
        "pv": _("PV"),
        "house": _("House"),
        "axis": _("Power (kW)"),
        "noData": _("No history yet: the first 5-minute average appears 5 minutes after the plant starts."),
        "error": _("The history could not be loaded; retrying in 5 minutes."),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    state = context["state"]
    soc_pct = state["flow"]["battery_soc_pct"] if state else None
    soc_clamped = min(max(soc_pct or 0.0, 0.0), 100.0)
    totals = state["totals"] if state else None
    context |= {
        "nodes": flow_nodes(state),
        "soc_pct": soc_pct,
        "soc_clamped": soc_clamped,
        "battery_fill_width": round(14 * soc_clamped / 100, 2),  # inner width of the battery icon: 14 units
        "soc_text": "–" if soc_pct is None else f"{format_number(soc_pct, 0)} %",
        "total_purchase_wh": totals["active_import_wh"] if totals else None,
        "total_purchase_text": format_energy_kwh(totals["active_import_wh"] if totals else None),
        "total_feed_in_wh": totals["active_export_wh"] if totals else None,
        "total_feed_in_text": format_energy_kwh(totals["active_export_wh"] if totals else None),
        "chart_labels": chart_labels(),
    }
    return render(request, "plant/dashboard.html", context)
