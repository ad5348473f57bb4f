"""The forecast page: the chart of forecast against actual, what the forecast is computed from,
and the plant's location and PV orientation (installers change them)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from forecast import services
from forecast.forms import LocationForm
from pages.presentation import format_power, live_page_context
from portal.roles import SETTINGS, may_change


def chart_labels() -> dict[str, str]:
    return {
        "pvForecast": _("PV forecast"),
        "loadForecast": _("House forecast"),
        "pvActual": _("PV measured"),
        "loadActual": _("House measured"),
        "now": _("now"),
        "axis": _("Power (kW)"),
        "noData": _("No forecast yet."),
        "error": _("The forecast could not be loaded; retrying in 15 minutes."),
    }


def inputs_text(inputs: dict[str, Any]) -> dict[str, str]:
    """What the forecast is computed from, in words for the page."""
    lat, lon = inputs.get("latitude_deg"), inputs.get("longitude_deg")
    where = (
        f"{abs(lat):.2f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.2f}° {'E' if lon >= 0 else 'W'}"
        if lat is not None and lon is not None
        else "–"
    )
    if inputs.get("location_source") == "time zone":
        location = _("%(where)s: no location set, the typical location for the time zone %(zone)s is used.") % {
            "where": where,
            "zone": inputs.get("time_zone", ""),
        }
    else:
        location = where
    tilt = inputs.get("tilt_deg")
    orientation = (
        _("tilt %(tilt)s°, azimuth %(azimuth)s°")
        % {"tilt": f"{tilt:g}", "azimuth": f"{inputs.get('azimuth_deg') or 180:g}"}
        if tilt is not None
        else _("unknown (computed as flat modules)")
    )
    return {
        "location": location,
        "orientation": orientation,
        "peak": format_power(inputs.get("generator_peak_w")),
    }


@login_required
@require_http_methods(["GET", "POST"])
def forecast(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return render(request, "forecast/forecast.html", context)
    may_edit = may_change(request.user, plant, SETTINGS)
    initial = {name: getattr(plant, name) for name in services.LOCATION_FIELDS}
    form = LocationForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if not may_edit:
            return HttpResponse(_("Only an installer may change these settings."), status=403)
        if form.is_valid():
            services.save_location(plant, **{name: form.cleaned_data[name] for name in services.LOCATION_FIELDS})
            messages.success(request, _("The location has been saved and the forecast recomputed."))
            return redirect("forecast:forecast")
        status = 400
    row = services.latest_row(plant)
    context |= {
        "form": form,
        "may_change_settings": may_edit,
        "stored": row,
        "inputs": inputs_text(row.inputs),
        "pv_source": row.data.get("pv_source"),
        "load_source": row.data.get("load_source"),
        "forecast_labels": chart_labels(),
    }
    return render(request, "forecast/forecast.html", context, status=status)
