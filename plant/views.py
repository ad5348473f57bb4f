"""The dashboard (PL-3) and the plant overview (PL-2). Formatting and live context shared with other pages: ``pages.presentation``.

Pages are rendered once on the server from the latest snapshot in Redis, so they are meaningful
before the websocket connects (and readable without JavaScript); the page's script then keeps
them current from ``ws/plants/<id>/live/``. Formatting rules in ``pages.presentation`` and ``static/js/live.js``
must stay the same, or values would jump when the first live message arrives.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from energy.state import PlantState
from events import services as event_services
from inverters.forms import PowerSettingsForm
from pages.presentation import IDLE_POWER_W, format_energy_kwh, format_number, format_power, live_page_context
from plant.models import Plant
from plant.overview import overview as plant_overview
from plant.overview import overview_labels


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


def flow_nodes(state: PlantState | None) -> dict[str, dict[str, Any]]:
    flow = state.flow if state else None
    powers = {
        "pv": flow.pv_power_w if flow else None,
        "grid": flow.grid_power_w if flow else None,
        "house": flow.house_power_w if flow else None,
        "battery": flow.battery_power_w if flow else None,
        "wallbox": flow.wallbox_power_w if flow else None,
    }
    nodes = {}
    for node, power_w in powers.items():
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
    state: PlantState | None = context["state"]
    soc_pct = state.flow.battery_soc_pct if state else None
    soc_clamped = min(max(soc_pct or 0.0, 0.0), 100.0)
    totals = state.totals if state else None
    context |= {
        "nodes": flow_nodes(state),
        "soc_pct": soc_pct,
        "soc_clamped": soc_clamped,
        "battery_fill_width": round(14 * soc_clamped / 100, 2),  # inner width of the battery icon: 14 units
        "soc_text": "–" if soc_pct is None else f"{format_number(soc_pct, 0)} %",
        "total_purchase_wh": totals.active_import_wh if totals else None,
        "total_purchase_text": format_energy_kwh(totals.active_import_wh if totals else None),
        "total_feed_in_wh": totals.active_export_wh if totals else None,
        "total_feed_in_text": format_energy_kwh(totals.active_export_wh if totals else None),
        "chart_labels": chart_labels(),
        "recent_events": event_services.recent_for_plant(request.user, context["plant"]),
    }
    return render(request, "plant/dashboard.html", context)


def power_settings_panel(plant: Plant, overview_url: str) -> dict[str, Any]:
    """The overview's settings form (INV-4, INV-5); the inverters app owns it and takes the post."""
    form = PowerSettingsForm(plant=plant)
    return {
        "settings_form": form,
        "settings_action": f"{reverse('inverters:power-settings')}?{urlencode({'plant': plant.pk, 'next': overview_url})}",
        "generator_power_w": form.generator_power_w,
        "generator_power_text": format_power(form.generator_power_w),
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """The plant overview (PL-2): where the house's power comes from, the power limitation, each device."""
    context = live_page_context(request)
    state: PlantState | None = context["state"]
    plant: Plant | None = context["plant"]
    data = plant_overview(state)
    battery = data["battery"]
    soc_pct = battery["soc_pct"] if battery else None
    context |= {
        "overview": data,
        "overview_labels": overview_labels(),
        "soc_clamped": min(max(soc_pct or 0.0, 0.0), 100.0),
        "home_position": plant is not None and plant.installation_position == Plant.Position.HOME,
        **(power_settings_panel(plant, request.get_full_path()) if plant else {}),
    }
    return render(request, "plant/overview.html", context)
