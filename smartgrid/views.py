"""Smart grid (SG-1..SG-3): the grid operator's limits in force, the failsafe values and nominal
maxima (the installer may change them), and the history of received limits, 10 per page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from energy import gridlimit as g
from pages.params import int_param
from pages.presentation import format_power, live_page_context
from portal.roles import SETTINGS, may_change
from smartgrid import services
from smartgrid.forms import GridLimitsForm
from smartgrid.models import STATE_CHOICES, GridLimitEntry

STATE_NAMES = dict(STATE_CHOICES)
# Enough pages for the whole ring at 10 per page.
HISTORY_PAGES = g.HISTORY_SIZE // services.HISTORY_PER_PAGE


def _direction_row(label: str, d: g.DirectionStatus) -> dict[str, Any]:
    return {
        "label": label,
        "state": d.state,
        "state_text": STATE_NAMES.get(d.state, d.state),
        "limit_text": format_power(d.limit_w) if d.limit_w is not None else _("no limit"),
        "since": d.since,
        "until": d.until,
    }


@login_required
@require_http_methods(["GET", "POST"])
def smartgrid(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return render(request, "smartgrid/smartgrid.html", context)
    may_edit = may_change(request.user, plant, SETTINGS)
    row = services.settings_of(plant.pk)
    form = GridLimitsForm(request.POST or None, instance=row)
    status = 200
    if request.method == "POST":
        if not may_edit:
            return HttpResponse(_("Only an installer may change these settings."), status=403)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.save_settings(plant.pk, **{name: data[name] for name in form.Meta.fields})
            except g.Rejected as exc:
                form.add_error(None, exc.reason)
            else:
                messages.success(request, _("The smart grid settings have been saved."))
                return redirect("smartgrid:state")
        status = 400
    now = timezone.now()
    current = services.status(plant.pk, now)
    page = services.history_page(plant.pk, int_param(request.GET, "page", low=1, high=HISTORY_PAGES, default=1) or 1)
    context |= {
        "form": form,
        "may_change_settings": may_edit,
        "grid_status": current,
        "directions": [
            _direction_row(_("Consumption (LPC)"), current.consume),
            _direction_row(_("Production (LPP)"), current.produce),
        ]
        if current
        else [],
        "settings_row": row,
        "failsafe_texts": {
            "consumption": format_power(row.failsafe_consumption_w),
            "production": format_power(row.failsafe_production_w),
            "duration_h": f"{row.failsafe_duration_s / 3600:g}",
            "consumption_max": format_power(row.consumption_nominal_max_w),
            "production_max": format_power(row.production_nominal_max_w),
        },
        "history": page,
        "history_rows": [_history_row(e) for e in page.entries],
    }
    return render(request, "smartgrid/smartgrid.html", context, status=status)


def _history_row(entry: GridLimitEntry) -> dict[str, Any]:
    return {
        "direction": entry.get_direction_display(),
        "kind": entry.get_kind_display(),
        "limit": format_power(entry.value_w) if entry.value_w is not None else "",
        "valid_from": entry.valid_from,
        "valid_to": entry.valid_to,
    }
