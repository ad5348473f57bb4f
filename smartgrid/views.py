"""Smart grid (SG-1..SG-3): the grid operator's limits in force, the failsafe values and nominal
maxima (the installer may change them), and the history of received limits, 10 per page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from energy import gridlimit as g
from energy import gridlimit_history as gh
from pages.params import int_param
from pages.presentation import format_power, live_page_context
from portal.roles import SETTINGS, may_change
from smartgrid import services
from smartgrid.forms import GridLimitsForm
from smartgrid.models import GridLimitEntry

# The state machine's states and the history's words as a heading or a table cell shows them
# (the model's choices are lower case, for use inside sentences).
STATE_NAMES = {
    g.INIT: gettext_lazy("Init"),
    g.UNLIMITED_CONTROLLED: gettext_lazy("Unlimited/controlled"),
    g.LIMITED: gettext_lazy("Limited"),
    g.FAILSAFE: gettext_lazy("Failsafe"),
    g.UNLIMITED_AUTONOMOUS: gettext_lazy("Unlimited/autonomous"),
}
DIRECTION_NAMES: dict[str, Any] = {
    g.CONSUME: gettext_lazy("Consumption (LPC)"),
    g.PRODUCE: gettext_lazy("Production (LPP)"),
}
KIND_NAMES: dict[str, Any] = {
    GridLimitEntry.Kind.UNLIMITED: gettext_lazy("Unlimited"),
    GridLimitEntry.Kind.LIMITED: gettext_lazy("Limited"),
    GridLimitEntry.Kind.FAILSAFE: gettext_lazy("Limited with failsafe value"),
}
# Enough pages for the whole ring at 10 per page.
HISTORY_PAGES = gh.HISTORY_SIZE // services.HISTORY_PER_PAGE


def _direction_row(direction: str, d: g.DirectionStatus, facts: g.Facts) -> dict[str, Any]:
    """One direction's row. "Until" is when its state ends as things stand: in ``limited`` the
    limit's end (its valid-to; none for a limit without duration), in ``failsafe`` the failsafe's
    end. A lost heartbeat would end it earlier: that deadline is shown on its own line."""
    machine = facts.machine(direction)
    if d.state == g.LIMITED:
        until = machine.limit.valid_until if machine.limit is not None else None
    elif d.state in (g.FAILSAFE, g.INIT):
        until = d.until
    else:
        until = None
    return {
        "label": DIRECTION_NAMES[direction],
        "state": d.state,
        "state_text": STATE_NAMES.get(d.state, d.state),
        "limit_text": format_power(d.limit_w) if d.limit_w is not None else _("no limit"),
        "since": d.since,
        "until": until,
    }


def _heartbeat_deadline(facts: g.Facts, current: g.GridLimitStatus) -> Any:
    """When the failsafe values take over if no heartbeat comes (only while one is awaited)."""
    if facts.last_heartbeat_at is None:
        return None
    watched = (g.UNLIMITED_CONTROLLED, g.LIMITED)
    if current.consume.state not in watched and current.produce.state not in watched:
        return None
    return facts.last_heartbeat_at + dt.timedelta(seconds=g.HEARTBEAT_TIMEOUT_S)


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
    stored = services.cycle_facts(plant.pk)
    facts = g.advance(stored, now)[0] if stored is not None else None
    current = g.status(facts, now) if facts is not None else None
    page = services.history_page(plant.pk, int_param(request.GET, "page", low=1, high=HISTORY_PAGES, default=1) or 1)
    context |= {
        "form": form,
        "may_change_settings": may_edit,
        "grid_status": current,
        "directions": [
            _direction_row(g.CONSUME, current.consume, facts),
            _direction_row(g.PRODUCE, current.produce, facts),
        ]
        if current and facts
        else [],
        "heartbeat_deadline": _heartbeat_deadline(facts, current) if current and facts else None,
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
        "direction": DIRECTION_NAMES.get(entry.direction, entry.direction),
        "kind": KIND_NAMES.get(entry.kind, entry.kind),
        "limit": format_power(entry.value_w) if entry.value_w is not None else "",
        "valid_from": entry.valid_from,
        "valid_to": entry.valid_to,
    }
