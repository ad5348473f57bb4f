"""The tariff pages: the overview of energy and costs (TAR-2) and the tariff settings (TAR-1).

The overview is rendered once on the server (a table of the period's bars, readable without
JavaScript); ``static/js/tariffs.js`` then draws the chart from the costs API. The settings editor's
grid is painted by ``static/js/tariffs_edit.js``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from access.limits import PRICE_FILE, body_limit
from pages.params import int_param
from pages.presentation import format_number, live_page_context, safe_read_state
from portal import roles
from tariffs import pricing, services
from tariffs.forms import ContractForm, PriceFileForm, PriceSourceForm, TariffVersionForm, encode_grid
from tariffs.models import Direction, DynamicPrice, PriceSource, TariffVersion
from tariffs.price_files import PriceFileError, parse_csv

PERIOD_LABELS = {
    "hour": gettext_lazy("Hour"),
    "day": gettext_lazy("Day"),
    "week": gettext_lazy("Week"),
    "month": gettext_lazy("Month"),
    "year": gettext_lazy("Year"),
}
WEEKDAYS = (
    gettext_lazy("Mon"), gettext_lazy("Tue"), gettext_lazy("Wed"), gettext_lazy("Thu"), gettext_lazy("Fri"),
    gettext_lazy("Sat"), gettext_lazy("Sun"),
)  # fmt: skip
# One colour per working price, in order (also in tariffs_edit.js).
PRICE_COLOURS = (
    "#f5a524", "#1f7ae0", "#12a150", "#e5484d", "#8e4ec6", "#0d9488", "#d97706", "#64748b", "#db2777",
    "#65a30d", "#0891b2", "#7c3aed",
)  # fmt: skip


def _direction(request: HttpRequest, name: str = "direction") -> str:
    value = request.GET.get(name, "purchase")
    return value if value in pricing.DIRECTIONS else "purchase"


def _query(**params: Any) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v is not None})


def _bar_label(period: str, start: dt.datetime) -> str:
    if period in ("hour", "day"):
        return f"{start:%H:%M}"
    if period == "year":
        return f"{start:%m/%Y}"
    return f"{start:%d.%m.}"


def live_totals(plant: Any, state: Any = None) -> services.LiveTotals | None:
    """The totals of the latest cycle, so the running period counts its energy so far (TAR-2); the API uses it too."""
    if state is None:
        state, _ok = safe_read_state(plant)
    if state is None:
        return None
    return services.LiveTotals(state.timestamp, state.totals.active_import_wh, state.totals.active_export_wh)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return render(request, "tariffs/overview.html", context)
    tz = services.zone(plant)
    period = request.GET.get("period", "day")
    period = period if period in pricing.PERIODS else "day"
    direction = _direction(request)
    now_local = timezone.now().astimezone(tz)
    try:
        day = dt.date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        day = now_local.date()
    # 0 ... 24: a day has 25 hours when the clocks go back.
    hour = int_param(request.GET, "hour", low=0, high=24)
    if hour is not None and hour < pricing.hours_in_day(day, tz):
        hour_index = hour
    elif day == now_local.date():
        hour_index = int((timezone.now() - pricing.local_midnight(day, tz)) / pricing.HOUR)
    else:
        hour_index = 0
    report = services.cost_report(
        plant,
        period=period,
        day=day,
        direction=direction,
        hour_index=hour_index,
        live=live_totals(plant, context["state"]),
    )
    api_params = {"period": period, "date": day.isoformat(), "direction": direction}
    if period == "hour":
        api_params["hour"] = str(hour_index)
    api_url = reverse("api-plant-costs", args=[plant.pk]) + _query(**api_params)

    def link(**changes: Any) -> str:
        params = {
            "period": period,
            "date": day.isoformat(),
            "direction": direction,
            "hour": hour_index if period == "hour" else None,
        }
        params.update(changes)
        return _query(**params)

    for bucket in report["buckets"]:
        bucket["label"] = _bar_label(period, dt.datetime.fromisoformat(bucket["start"]))
    start_local = dt.datetime.fromisoformat(report["start"])
    context |= {
        "report": report,
        "period": period,
        "direction": direction,
        "periods": [
            {"key": k, "label": v, "url": link(period=k, hour=hour_index if k == "hour" else None)}
            for k, v in PERIOD_LABELS.items()
        ],
        "directions": [{"key": d.value, "label": d.label, "url": link(direction=d.value)} for d in Direction],
        "previous_url": link(date=report["previous"]["date"], hour=report["previous"]["hour"]),
        "next_url": link(date=report["next"]["date"], hour=report["next"]["hour"]),
        "today_url": link(date=now_local.date().isoformat(), hour=None),
        "period_title": _period_title(period, start_local, dt.datetime.fromisoformat(report["end"])),
        "csv_url": api_url + "&format=csv",
        "chart_config": {
            "apiUrl": api_url,
            "period": period,
            "currency": report["currency"],
            "lang": request.LANGUAGE_CODE,
            "labels": {
                "energy": _("Energy (kWh)"),
                "cost": _("Costs (%(currency)s)") % {"currency": report["currency"]}
                if direction == "purchase"
                else _("Earnings (%(currency)s)") % {"currency": report["currency"]},
                "gap": _("includes an outage: total measured, spread over the missing time"),
                "noData": _("No energy recorded in this period."),
                "error": _("The chart could not be loaded."),
            },
        },
        "so_far_text": _so_far_text(report),
        "energy_text": "–" if report["energy_kwh"] is None else f"{format_number(float(report['energy_kwh']), 2)} kWh",
        "cost_text": _money_text(report["cost"], report["currency"]),
        "basic_charge_text": _money_text(report["basic_charge"], report["currency"]),
    }
    return render(request, "tariffs/overview.html", context)


def _so_far_text(report: dict[str, Any]) -> str:
    """While the period runs, the local time its energy counts up to ("" for a period that is over)."""
    until = report["measured_until"]
    if until is None or dt.datetime.fromisoformat(until) >= dt.datetime.fromisoformat(report["end"]):
        return ""
    return f"{dt.datetime.fromisoformat(until):%H:%M:%S}"


def _money_text(amount: str | None, currency: str) -> str:
    return "–" if amount is None else f"{format_number(float(Decimal(amount)), 2)} {currency}"


def _period_title(period: str, start: dt.datetime, end: dt.datetime) -> str:
    if period == "hour":
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    if period == "day":
        return f"{start:%Y-%m-%d}"
    if period == "week":
        last = end - dt.timedelta(days=1)
        return f"{start:%Y-%m-%d} – {last:%Y-%m-%d}"
    if period == "month":
        return f"{start:%Y-%m}"
    return f"{start:%Y}"


def _grid_view(version: TariffVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    prices = [
        {"name": p["name"], "price": p["price"], "colour": PRICE_COLOURS[i % len(PRICE_COLOURS)]}
        for i, p in enumerate(version.prices)
    ]
    rows = [{"day": WEEKDAYS[d], "cells": [{"index": i, **prices[i]} for i in version.grid[d]]} for d in range(7)]
    return {"version": version, "prices": prices, "rows": rows}


@login_required
def settings(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return render(request, "tariffs/settings.html", context)
    direction = _direction(request, "tariff")
    now = timezone.now()
    contract = services.contract(plant)
    versions = list(TariffVersion.objects.filter(plant=plant, direction=direction).order_by("-valid_from"))
    in_force = services.version_in_force(plant, direction, now)
    source = PriceSource.objects.filter(plant=plant, direction=direction).first()
    upcoming = DynamicPrice.objects.filter(plant=plant, direction=direction, end__gt=now).order_by("start")
    context |= {
        "direction": direction,
        "directions": [{"key": d.value, "label": d.label} for d in Direction],
        "contract_form": ContractForm(initial={"currency": contract.currency, "time_zone": plant.time_zone}),
        "currency": contract.currency,
        "grid_view": _grid_view(in_force),
        "hours": range(24),
        "versions": versions,
        "in_force": in_force,
        "price_file_form": PriceFileForm(),
        "source_form": PriceSourceForm(instance=source),
        "source": source,
        "upcoming_count": upcoming.count(),
        "upcoming_last": upcoming.last(),
    }
    return render(request, "tariffs/settings.html", context)


def _form_errors(form: Any) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


def _settings_url(plant: Any, direction: str) -> str:
    return reverse("tariffs:settings") + _query(plant=plant.pk, tariff=direction)


@login_required
@roles.require(roles.TARIFFS)
@require_POST
def save_contract(request: HttpRequest) -> HttpResponseRedirect:
    plant = live_page_context(request)["plant"]
    direction = _direction(request, "tariff")
    form = ContractForm(request.POST)
    if plant is not None and form.is_valid():
        services.save_contract(plant, **form.cleaned_data)
        messages.success(request, _("Contract information saved."))
    else:
        for error in _form_errors(form):
            messages.error(request, error)
    return redirect(_settings_url(plant, direction) if plant else reverse("tariffs:settings"))


@login_required
@roles.require(roles.TARIFFS)
def edit(request: HttpRequest, direction: str) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None or direction not in pricing.DIRECTIONS:
        return redirect("tariffs:settings")
    tz = services.zone(plant)
    current = services.version_in_force(plant, direction)
    if request.method == "POST":
        form = TariffVersionForm(request.POST, tz=tz)
        if form.is_valid():
            data = form.cleaned_data
            services.save_version(
                plant,
                direction,
                valid_from=data["valid_from"],
                basic_charge=data["basic_charge"],
                names=data["names"],
                prices=data["prices"],
                grid=data["grid"],
            )
            messages.success(request, _("Tariff saved; working prices without hours were removed."))
            return redirect(_settings_url(plant, direction))
        price_rows = form.price_rows
        grid_text = request.POST.get("grid", "")
    else:
        start = current.as_tariff() if current else None
        data = services.default_grid_data()
        price_rows = (
            current.prices if current else [{"name": _("Working price %(number)s") % {"number": 1}, "price": "0.30"}]
        )
        grid_text = encode_grid(current.grid if current else data["grid"])
        next_hour = (timezone.now().astimezone(tz) + pricing.HOUR).replace(minute=0, second=0, microsecond=0)
        form = TariffVersionForm(
            tz=tz,
            initial={
                "valid_from": next_hour.replace(tzinfo=None),
                "basic_charge": start.basic_charge if start else Decimal(0),
                "grid": grid_text,
            },
        )
    context |= {
        "form": form,
        "direction": direction,
        "direction_label": Direction(direction).label,
        "currency": services.contract(plant).currency,
        "price_rows": [{**row, "colour": PRICE_COLOURS[i % len(PRICE_COLOURS)]} for i, row in enumerate(price_rows)],
        "weekdays": WEEKDAYS,
        "hours": range(24),
        "editor_config": {"colours": PRICE_COLOURS, "grid": grid_text},
        "editor_labels": {
            "newPrice": _("Working price %(number)s"),
            "nothingSelected": _("First select days and hours in the timetable."),
        },
        "time_zone": plant.time_zone,
        "cancel_url": _settings_url(plant, direction),
    }
    return render(request, "tariffs/edit.html", context)


@body_limit(PRICE_FILE)
@login_required
@roles.require(roles.TARIFFS)
@require_POST
def import_prices(request: HttpRequest, direction: str) -> HttpResponseRedirect:
    plant = live_page_context(request)["plant"]
    if plant is None or direction not in pricing.DIRECTIONS:
        return redirect("tariffs:settings")
    form = PriceFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a CSV file to import."))
        return redirect(_settings_url(plant, direction))
    try:
        points = parse_csv(form.cleaned_data["file"].file)
    except UnicodeDecodeError:
        messages.error(request, _("The file is not UTF-8 text; nothing was imported."))
    except PriceFileError as error:
        messages.error(request, _("The file was refused, nothing was imported: %(error)s") % {"error": error})
    else:
        count = services.store_prices(plant, direction, points)
        messages.success(
            request,
            _("%(count)d prices imported (%(start)s – %(end)s).")
            % {"count": count, "start": points[0].start.isoformat(), "end": points[-1].end.isoformat()},
        )
    return redirect(_settings_url(plant, direction))


@login_required
@roles.require(roles.TARIFFS)
@require_POST
def price_source(request: HttpRequest, direction: str) -> HttpResponseRedirect:
    plant = live_page_context(request)["plant"]
    if plant is None or direction not in pricing.DIRECTIONS:
        return redirect("tariffs:settings")
    source = PriceSource.objects.filter(plant=plant, direction=direction).first()
    form = PriceSourceForm(request.POST, instance=source)
    if form.is_valid():
        saved = form.save(commit=False)
        saved.plant, saved.direction = plant, direction
        saved.save()
        if "fetch" in request.POST:
            count = services.fetch_prices(saved)
            if saved.last_error:
                messages.error(request, _("Fetching failed: %(error)s") % {"error": saved.last_error})
            else:
                messages.success(request, _("%(count)d prices fetched.") % {"count": count})
        else:
            messages.success(request, _("Price endpoint saved."))
    else:
        for error in _form_errors(form):
            messages.error(request, error)
    return redirect(_settings_url(plant, direction))
