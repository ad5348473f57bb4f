"""The smart-meter page (MET-4): total power, per-phase energy and measured values, advanced mode.

Rendered from the latest snapshot, then kept live by ``static/js/smartmeter.js``. Every value
cell carries where its number comes from in the snapshot (``data-source``, a path under
``meter``) and how to show it, so the script needs no table layout of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from energy.state import MeterReading, PlantState
from meter import ct, services
from pages.presentation import current_plant, format_number, live_page_context
from portal import roles

PHASES = ("L1", "L2", "L3")
# Bars of the per-phase power diagram are scaled to at least this, so a few watts of noise stay small.
MIN_BAR_SCALE_W = 1000.0
ENERGY_DIRECTIONS = ("purchase", "feed-in")


@dataclass(frozen=True)
class Quantity:
    testid: str
    label: str | Promise
    phase_field: str | None  # under meter.phases[i] / meter.phase_energy[i]
    total_field: str | None  # under meter / meter.energy
    unit: str
    decimals: int
    scale: float = 1.0
    advanced: bool = False


ACTIVE_POWER = Quantity("active-power", _("Active power"), "active_power_w", "active_power_w", "W", 0)
FREQUENCY = Quantity("frequency", _("Frequency"), None, "frequency_hz", "Hz", 2)
MEASURED = (
    Quantity("voltage", _("Voltage"), "voltage_v", None, "V", 1),
    Quantity("current", pgettext_lazy("electrical quantity", "Current"), "current_a", None, "A", 2),
    ACTIVE_POWER,
    Quantity("power-factor", _("Power factor"), "power_factor", "power_factor", "", 3),
    Quantity("apparent-power", _("Apparent power"), "apparent_power_va", "apparent_power_va", "VA", 0, advanced=True),
    Quantity(
        "reactive-power", _("Reactive power"), "reactive_power_var", "reactive_power_var", "var", 0, advanced=True
    ),
)

# "{dir}" becomes "import" (purchase) or "export" (feed-in).
ENERGY = (
    Quantity("active-energy", _("Active energy"), "active_{dir}_wh", "active_{dir}_wh", "kWh", 2, 0.001),
    Quantity(
        "reactive-energy", _("Reactive energy"), "reactive_{dir}_varh", "reactive_{dir}_varh", "kvarh", 2, 0.001, True
    ),
    Quantity(
        "apparent-energy", _("Apparent energy"), "apparent_{dir}_vah", "apparent_{dir}_vah", "kVAh", 2, 0.001, True
    ),
)


def lookup(meter: MeterReading | PlantState | None, path: str) -> float | None:
    """Follow ``a.0.b`` through the meter reading's fields (``phases[0].b``); None without a reading.

    The same path names the value in the snapshot data the script receives (energy.snapshot
    keeps the field names), so one path serves both. A path naming no field is an error here,
    in the page tests, not a cell that silently stays empty.
    """
    node: Any = meter
    for part in path.split("."):
        if node is None:
            return None
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def format_value(value: float | None, quantity: Quantity) -> str:
    if value is None:
        return "–"
    text = format_number(value * quantity.scale, quantity.decimals)
    return f"{text} {quantity.unit}" if quantity.unit else text


def cell(
    meter: Any, quantity: Quantity, testid: str, source: str, counter: str = "import", root: str = "meter"
) -> dict:
    """One value cell. ``counter`` fills "{dir}" in energy sources: import = purchase, export = feed-in.

    ``root`` says where ``source`` starts in the snapshot: its ``meter`` part (``meter`` is then the
    reading) or the whole snapshot (``state``: the plant's totals since commissioning).
    """
    value = lookup(meter, source.replace("{dir}", counter))
    return {
        "testid": testid,
        "source": source,
        "root": root,
        "value": value,
        "text": format_value(value, quantity),
        "unit": quantity.unit,
        "decimals": quantity.decimals,
        "scale": quantity.scale,
        "advanced": quantity.advanced,
    }


def measured_rows(meter: MeterReading | None) -> list[dict[str, Any]]:
    rows = []
    for q in MEASURED:
        phase_cells = [cell(meter, q, f"{q.testid}-{p}", f"phases.{i}.{q.phase_field}") for i, p in enumerate(PHASES)]
        total = cell(meter, q, f"{q.testid}-total", q.total_field) if q.total_field else None
        rows.append({"quantity": q, "cells": phase_cells, "total": total})
    return rows


def energy_rows(source: Any, direction: str, *, root: str = "state") -> list[dict[str, Any]]:
    """Energy per phase and in total: the plant's totals since commissioning (``root`` "state", the
    same numbers as the dashboard), or the meter's own counters (``root`` "meter", advanced mode)."""
    counter = "export" if direction == "feed-in" else "import"
    phase_part, total_part, prefix = (
        ("phase_totals", "totals", "") if root == "state" else ("phase_energy", "energy", "meter-")
    )
    rows = []
    for i, phase in enumerate(PHASES):
        cells = [
            cell(source, q, f"{prefix}{q.testid}-{phase}", f"{phase_part}.{i}.{q.phase_field}", counter, root)
            for q in ENERGY
        ]
        rows.append({"label": phase, "cells": cells, "is_total": False})
    totals = [
        cell(source, q, f"{prefix}{q.testid}-total", f"{total_part}.{q.total_field}", counter, root) for q in ENERGY
    ]
    rows.append({"label": _("Total"), "cells": totals, "is_total": True})
    return rows


def phase_bars(meter: MeterReading | None) -> list[dict[str, Any]]:
    """Per-phase power as diverging bars: purchase right of the centre, feed-in left (mirrored in smartmeter.js)."""
    powers = [lookup(meter, f"phases.{i}.active_power_w") for i in range(3)]
    scale = max([MIN_BAR_SCALE_W, *(abs(p) for p in powers if p is not None)])
    bars = []
    for phase, power in zip(PHASES, powers, strict=True):
        width_pct = round(50 * abs(power or 0.0) / scale, 2)
        feed_in = power is not None and power < 0
        bars.append(
            {
                "phase": phase,
                "value": power,
                "text": format_value(power, ACTIVE_POWER),
                "feed_in_pct": width_pct if feed_in else 0,
                "purchase_pct": 0 if feed_in else width_pct,
            }
        )
    return bars


def power_direction(power_w: float | None) -> str:
    if power_w is None:
        return ""
    return "purchase" if power_w > 0 else "feed-in" if power_w < 0 else "balanced"


@login_required
def smartmeter(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    meter = context["state"].meter if context["state"] else None
    direction = request.GET.get("energy", "purchase")
    direction = direction if direction in ENERGY_DIRECTIONS else "purchase"
    total_power_w = lookup(meter, "active_power_w")
    context |= {
        "meter": meter,
        "advanced": request.GET.get("advanced") == "1",
        "energy_direction": direction,
        "total_power": {"value": total_power_w, "text": format_value(total_power_w, ACTIVE_POWER)},
        "total_power_direction": power_direction(total_power_w),
        "frequency": cell(meter, FREQUENCY, "frequency", "frequency_hz"),
        "phase_bars": phase_bars(meter),
        "measured_rows": measured_rows(meter),
        "energy_quantities": ENERGY,
        "energy_rows": energy_rows(context["state"], direction),
        "meter_energy_rows": energy_rows(meter, direction, root="meter"),
        "meter_labels": {"purchase": _("Purchase"), "feedIn": _("Feed-in"), "balanced": _("Balanced")},
        "meter_config": {"minBarScaleW": MIN_BAR_SCALE_W},
    }
    plant = context["plant"]
    meter_row = getattr(plant, "meter", None) if plant else None
    if meter_row is not None:
        setting = services.ct_setting(meter_row)
        context |= {
            "ct": setting,
            "ct_choice": ct.NONE
            if setting["primary_a"] is None
            else str(setting["primary_a"])
            if setting["common"]
            else ct.OTHER,
            "may_change_ct": roles.may_change(request.user, plant, roles.SETTINGS),
        }
    return render(request, "meter/smartmeter.html", context)


@login_required
@require_POST
@roles.require(roles.SETTINGS)
def save_ct(request: HttpRequest) -> HttpResponse:
    """The current-transformer ratio (MET-2): one from the list, none, or other (primary on 5 A)."""
    plant = current_plant(request)
    meter = getattr(plant, "meter", None) if plant else None
    if meter is None:
        messages.error(request, _("This plant has no meter set up yet."))
        return redirect("meter:smartmeter")
    try:
        primary = ct.from_choice(
            request.POST.get("ct", ""), request.POST.get("primary_a"), request.POST.get("secondary_a") or ct.SECONDARY_A
        )
    except ct.CtError as error:
        messages.error(request, _("The current transformer was not changed: %(error)s") % {"error": error.message})
        return redirect("meter:smartmeter")
    services.save_ct_primary(meter, primary)
    if primary is None:
        messages.success(request, _("No current transformer: the meter measures directly."))
    else:
        messages.success(request, _("Current transformer %(primary)d/5 A saved.") % {"primary": primary})
    return redirect("meter:smartmeter")
