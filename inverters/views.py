"""Devices -> Inverters (5.12): the list with live status and info, add/edit/delete, a PIKO MP plus's
battery, and the plant's power settings (PL-2) that the plant overview embeds and posts here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from energy.state import PlantState
from inverters import detection, services
from inverters.forms import BatteryForm, InverterForm, PowerSettingsForm
from inverters.models import Battery, Inverter
from pages.presentation import format_power, live_page_context, safe_read_state
from portal import roles


def _inverter_plant(request: HttpRequest, pk: int, **kwargs: Any) -> int | None:
    """The plant a change to inverter ``pk`` is about (None if there is no such inverter: 404 follows)."""
    plant_id: int | None = Inverter.objects.filter(pk=pk).values_list("plant_id", flat=True).first()
    return plant_id


def latest_state(plant: Any) -> PlantState | None:
    """The plant's latest snapshot (``None`` before the first cycle or while Redis is down); the API uses it too."""
    return safe_read_state(plant)[0]


def _rows(plant: Any, state: PlantState | None) -> list[dict[str, Any]]:
    rows = []
    for inverter in Inverter.objects.filter(plant=plant).select_related("battery").order_by("position", "pk"):
        rows.append(
            {
                "inverter": inverter,
                "power_text": format_power(inverter.max_ac_w),
                "battery": getattr(inverter, "battery", None),
                "info_job": detection.info_job(inverter),
                **services.live_status(state, inverter.name),
            }
        )
    return rows


@login_required
def inverter_list(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    rows = _rows(plant, context["state"]) if plant else []
    context |= {
        "rows": rows,
        "columns": [_("Name"), _("Type"), _("Max. AC power"), _("Address"), _("Status")],
        "can_add": len(rows) < services.MAX_INVERTERS,
        "may_change": bool(plant) and roles.may_change(request.user, plant, roles.SETTINGS),
        "info_texts": {
            "queued": _("Waiting for the worker…"),
            "running": _("Reading the device info…"),
            "done": _("The device info has been read."),
            "failed": _("Reading the device info failed:"),
        },
        "max_inverters": services.MAX_INVERTERS,
    }
    return render(request, "inverters/list.html", context)


def _form_page(request: HttpRequest, form: InverterForm, inverter: Inverter | None) -> HttpResponse:
    context = live_page_context(request)
    context |= {"form": form, "inverter": inverter, "type_table": services.type_table()}
    return render(request, "inverters/form.html", context)


@login_required
@roles.require(roles.SETTINGS)
@require_http_methods(["GET", "POST"])
def inverter_add(request: HttpRequest) -> HttpResponse:
    plant = live_page_context(request)["plant"]
    if plant is None:
        return redirect("inverters:list")
    form = InverterForm(request.POST or None, plant=plant)
    if request.method == "POST" and form.is_valid():
        inverter = form.save()
        messages.success(request, _("%(name)s answered and has been added.") % {"name": inverter.name})
        return redirect("inverters:list")
    return _form_page(request, form, None)


@login_required
@roles.require(roles.SETTINGS, plant_of=_inverter_plant)
@require_http_methods(["GET", "POST"])
def inverter_edit(request: HttpRequest, pk: int) -> HttpResponse:
    inverter = roles.plant_object_or_404(Inverter, request.user, pk=pk)
    form = InverterForm(request.POST or None, instance=inverter, plant=inverter.plant)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("%(name)s has been saved.") % {"name": inverter.name})
        return redirect("inverters:list")
    return _form_page(request, form, inverter)


@login_required
@roles.require(roles.SETTINGS, plant_of=_inverter_plant)
@require_http_methods(["GET", "POST"])
def inverter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    inverter = roles.plant_object_or_404(Inverter, request.user, pk=pk)
    if request.method == "POST":
        inverter.delete()
        messages.success(request, _("%(name)s has been deleted.") % {"name": inverter.name})
        return redirect("inverters:list")
    context = live_page_context(request) | {"inverter": inverter}
    return render(request, "inverters/delete.html", context)


@login_required
@roles.require(roles.SETTINGS, plant_of=_inverter_plant)
@require_http_methods(["GET", "POST"])
def battery_edit(request: HttpRequest, pk: int) -> HttpResponse:
    inverter = roles.plant_object_or_404(Inverter, request.user, pk=pk, type=Inverter.Type.PIKO_MP_PLUS)
    battery = Battery.objects.filter(inverter=inverter).first()
    if request.method == "POST" and "remove" in request.POST:
        if battery is not None:
            battery.delete()
            messages.success(request, _("The battery of %(name)s has been removed.") % {"name": inverter.name})
        return redirect("inverters:list")
    form = BatteryForm(request.POST or None, instance=battery, inverter=inverter)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The battery of %(name)s has been saved.") % {"name": inverter.name})
        return redirect("inverters:list")
    context = live_page_context(request) | {"form": form, "inverter": inverter, "battery": battery}
    return render(request, "inverters/battery.html", context)


def _info_answer(inverter: Inverter) -> dict[str, Any]:
    return {"info": detection.info_of(inverter), "job": detection.info_job(inverter)}


@login_required
@roles.require(roles.SETTINGS, plant_of=_inverter_plant)
@require_http_methods(["GET", "POST"])
def device_info(request: HttpRequest, pk: int) -> HttpResponse:
    """``POST``: read the device info again (a job in the worker); ``GET``: the info and that job, for the page's script.

    A ``POST`` from the page's script (``Accept: application/json``) answers 202 with the job to
    poll; without the script it returns to the list, which shows the job's state.
    """
    inverter = roles.plant_object_or_404(Inverter, request.user, pk=pk)
    if request.method == "POST":
        try:
            detection.request_info(inverter)
        except detection.SEND_ERRORS as error:  # Redis or the broker down: say so instead of a server error
            text = _("The info read could not be handed to the worker (%(error)s).") % {"error": error}
            if "application/json" in request.headers.get("Accept", ""):
                return JsonResponse({"error": text}, status=503)
            messages.error(request, text)
            return redirect("inverters:list")
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse(_info_answer(inverter), status=202)
        messages.info(request, _("The worker reads the device info of %(name)s.") % {"name": inverter.name})
        return redirect("inverters:list")
    return JsonResponse(_info_answer(inverter))


def _back(request: HttpRequest) -> str:
    """Where a saved power-settings form returns to: ``?next=`` on this site, else the plant overview."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    try:
        return reverse("plant:overview")
    except NoReverseMatch:
        return reverse("inverters:list")


@login_required
@roles.require(roles.SETTINGS)
@require_http_methods(["GET", "POST"])
def power_settings(request: HttpRequest) -> HttpResponse:
    """Save the plant's power settings and go back; a refused form is shown here with its errors."""
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return redirect("inverters:list")
    form = PowerSettingsForm(plant=plant, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The power settings have been saved."))
        return HttpResponseRedirect(_back(request))
    context |= {"form": form, "next": _back(request)}
    return render(request, "inverters/power_settings.html", context)
