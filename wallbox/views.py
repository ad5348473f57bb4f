"""Wallbox pages (4.7, 5.7): overview with phase load, charging per box (status, pause/restart, mode,
Solar Plus, Time Mode), devices (add/edit/delete/setup/firmware), mains settings, sessions, the
phase-switching log.

Every page exists only while the plant has the wallbox option (WB-1): otherwise 404. Operators
see everything and may change the charging area (mode, pause, Time Mode); devices, mains and
firmware are the installer's (``portal.roles.may_change``), anything else answers 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.limits import FIRMWARE, body_limit
from energy import config as energy
from energy.state import PlantState
from pages.presentation import format_energy_kwh, format_power, live_page_context, safe_read_state
from portal.roles import CHARGING, SETTINGS, may_change, plant_object_or_404
from wallbox import configs, history, rules, setup, snapshot
from wallbox import firmware as firmware_updates  # the page is called firmware
from wallbox.forms import (
    ChargingForm,
    ChargingPlanForm,
    FirmwareForm,
    MainsForm,
    TimeModeForm,
    WallboxAddForm,
    WallboxEditForm,
)
from wallbox.models import ChargingPlan, ChargingSession, Wallbox

View = Callable[..., HttpResponse]


def wallbox_page(view: View) -> View:
    """Logged in, and the plant has the wallbox option; the view gets the page context."""

    @login_required
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        context = live_page_context(request)
        if not configs.option_active(context["plant"]):
            raise Http404(_("The wallbox functions are not activated for this plant."))
        context["may_change_settings"] = may_change(request.user, context["plant"], SETTINGS)
        context["may_change_charging"] = may_change(request.user, context["plant"], CHARGING)
        return view(request, context, *args, **kwargs)

    return wrapped


def _require(request: HttpRequest, context: dict[str, Any], area: str) -> None:
    if not may_change(request.user, context["plant"], area):
        raise PermissionDenied(_("Your role may not change this."))


def _box(request: HttpRequest, context: dict[str, Any], pk: int) -> Wallbox:
    """Box ``pk`` of the page's plant: 403 when it is another plant's the person has no role on,
    404 when there is no such box on this plant."""
    box: Wallbox = plant_object_or_404(Wallbox, request.user, pk=pk)
    if box.plant_id != context["plant"].pk:
        raise Http404(_("No such wallbox on this plant."))
    return box


def _row(box: Wallbox, state: PlantState | None) -> dict[str, Any]:
    live = snapshot.live_state(state, box.name)
    return {
        "box": box,
        "live": live,
        "power_text": format_power(live.power_w if live else None),
        "energy_text": format_energy_kwh(live.session_energy_wh if live else None),
        **snapshot.live_status(state, box.name),
    }


@wallbox_page
def overview(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    plant, state = context["plant"], context["state"]
    boxes = list(Wallbox.objects.filter(plant=plant).order_by("position", "pk"))
    load = snapshot.phase_load(state, configs.mains_config(plant))
    context |= {
        "rows": [_row(box, state) for box in boxes],
        "columns": [_("Name"), _("Type"), _("Address"), _("Phases"), _("Status"), _("Charging")],
        "load": load,
        "charging_text": format_power(load["charging_w"]),
        "quota_text": format_power(load["quota_w"]),
        "mains": configs.mains_settings_of(plant),
        "modbus_command": snapshot.modbus_command(state),
        "simulated_only_note": firmware_updates.SIMULATED_ONLY_NOTE,
    }
    return render(request, "wallbox/overview.html", context)


@wallbox_page
@require_http_methods(["GET", "POST"])
def add(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    _require(request, context, SETTINGS)
    form = WallboxAddForm(request.POST or None, plant=context["plant"])
    if request.method == "POST" and form.is_valid():
        box = form.save()
        (messages.warning if box.is_pending else messages.success)(request, form.setup_message)
        return redirect("wallbox:overview")
    context |= {"form": form, "box": None, "modbus_url": _modbus_url()}
    return render(request, "wallbox/form.html", context)


def _modbus_url() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("modbus:settings")
    except NoReverseMatch:
        return ""


@wallbox_page
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    if request.method == "POST":
        _require(request, context, SETTINGS)
    form = WallboxEditForm(request.POST or None, instance=box)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("%(name)s has been saved.") % {"name": box.name})
        return redirect("wallbox:overview")
    context |= {"form": form, "box": box, "modbus_url": _modbus_url()}
    return render(request, "wallbox/form.html", context)


@wallbox_page
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, SETTINGS)
    if request.method == "POST":
        message = setup.remove(box)
        (messages.success if "answers at address 50" in message else messages.warning)(request, message)
        return redirect("wallbox:overview")
    return render(request, "wallbox/delete.html", context | {"box": box})


@wallbox_page
@require_POST
def retry_setup(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, SETTINGS)
    message = setup.retry_setup(box)
    (messages.info if box.is_pending else messages.success)(request, message)
    return redirect("wallbox:overview")


@wallbox_page
@require_POST
def refresh_info(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, SETTINGS)
    try:
        setup.read_info(box)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        box.save(update_fields=["serial_number", "hardware_version", "firmware_version", "info_read_at"])
        messages.success(request, _("The info of %(name)s has been read.") % {"name": box.name})
    return redirect("wallbox:overview")


def _charging_context(
    context: dict[str, Any], box: Wallbox, form: ChargingForm | None = None, plan_form: ChargingPlanForm | None = None
) -> dict[str, Any]:
    state = context["state"]
    live = snapshot.live_state(state, box.name)
    days = configs.time_mode_of(box)
    now = timezone.now()
    return context | {
        "box": box,
        "row": _row(box, state),
        "live": live,
        "timers": [{"name": t.name, "seconds_left": round(t.seconds_left)} for t in (live.timers if live else ())],
        "form": form or ChargingForm(instance=box),
        "time_mode_form": TimeModeForm(initial={"days": rules.format_time_mode(days)}),
        "days": days,
        "weekday_names": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
        "hours": range(24),
        "hourly_modes": [(value, Wallbox.Mode(value).label) for value in energy.HOURLY_MODES],
        "mode_now": snapshot.mode_in_force(box, now, context["plant"].time_zone),
        "modbus_command": snapshot.modbus_command(state, now),
        "vehicle_range": _vehicle_range(box),
        "plan_form": plan_form or ChargingPlanForm(instance=_plan_of(box)),
        "plan_exists": _plan_of(box) is not None,
        "timeline": configs.plan_timeline(box, state, now),
    }


def _plan_of(box: Wallbox) -> ChargingPlan | None:
    return ChargingPlan.objects.filter(wallbox=box).first()


@wallbox_page
@require_POST
def plan(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    """Save or delete the box's charging plan (issue 19.3); the charging area, like the mode."""
    box = _box(request, context, pk)
    _require(request, context, CHARGING)
    existing = _plan_of(box)
    if request.POST.get("action") == "delete":
        if existing is not None:
            existing.delete()
        messages.success(request, _("The charging plan of %(name)s has been deleted.") % {"name": box.name})
        return redirect("wallbox:charging", pk=box.pk)
    form = ChargingPlanForm(request.POST, instance=existing or ChargingPlan(wallbox=box))
    if form.is_valid():
        form.save()
        messages.success(request, _("The charging plan of %(name)s has been saved.") % {"name": box.name})
        return redirect("wallbox:charging", pk=box.pk)
    return render(request, "wallbox/charging.html", _charging_context(context, box, plan_form=form), status=400)


def _vehicle_range(box: Wallbox) -> list[dict[str, str]]:
    """What the Solar Plus start powers mean in kW for a 1-phase and a 3-phase vehicle (5.7.4)."""
    max_a = energy.WALLBOX_LIMITS[box.type][1]
    rows = []
    for phases in (1, 3) if box.max_phases == 3 else (1,):
        low = phases * energy.NOMINAL_VOLTAGE_V * float(box.min_current_a)
        high = phases * energy.NOMINAL_VOLTAGE_V * min(max_a, 16.0 if phases == 3 else max_a)
        starts = {"min": low, "50": high * 0.5, "75": high * 0.75, "max": high}
        start_w = max(low, starts[box.solar_plus_start])
        rows.append(
            {
                "phases": str(phases),
                "start": format_power(start_w),
                "solar": format_power(start_w * box.solar_plus_min_share_pct / 100.0),
            }
        )
    return rows


@wallbox_page
@require_http_methods(["GET", "POST"])
def charging(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    form = None
    if request.method == "POST":
        _require(request, context, CHARGING)
        form = ChargingForm(request.POST, instance=box)
        if form.is_valid():
            form.save()
            messages.success(request, _("The charging settings of %(name)s have been saved.") % {"name": box.name})
            return redirect("wallbox:charging", pk=box.pk)
        box.refresh_from_db()
    return render(request, "wallbox/charging.html", _charging_context(context, box, form))


@wallbox_page
@require_POST
def pause(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, CHARGING)
    paused = request.POST.get("action") != "resume"
    rules.set_manual_pause(box, paused)
    if paused:
        messages.success(request, _("Charging at %(name)s is paused until you restart it.") % {"name": box.name})
    else:
        messages.success(request, _("Charging at %(name)s has been restarted.") % {"name": box.name})
    return redirect("wallbox:charging", pk=box.pk)


@wallbox_page
@require_POST
def time_mode(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, CHARGING)
    form = TimeModeForm(request.POST)
    if form.is_valid():
        rules.save_time_mode(box, form.cleaned_data["days"])
        messages.success(request, _("The Time Mode week of %(name)s has been saved.") % {"name": box.name})
        return redirect("wallbox:charging", pk=box.pk)
    page = _charging_context(context, box)
    page["time_mode_form"] = form
    return render(request, "wallbox/charging.html", page, status=400)


@wallbox_page
@require_http_methods(["GET", "POST"])
def mains(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    if request.method == "POST":
        _require(request, context, SETTINGS)
    form = MainsForm(request.POST or None, instance=configs.mains_settings_of(context["plant"]))
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The mains connection has been saved."))
        return redirect("wallbox:mains")
    return render(request, "wallbox/mains.html", context | {"form": form})


@body_limit(FIRMWARE)
@wallbox_page
@require_http_methods(["GET", "POST"])
def firmware(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    _require(request, context, SETTINGS)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    form = FirmwareForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                firmware_updates.start_firmware_update(box, form.cleaned_data["firmware"])
            except ValidationError as error:
                form.add_error("firmware", error.messages)
        if form.errors:
            if wants_json:
                return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
        else:
            if wants_json:
                return JsonResponse(firmware_updates.firmware_progress(box.pk), status=202)
            messages.info(request, _("The firmware is being transferred to %(name)s.") % {"name": box.name})
            return redirect("wallbox:firmware", pk=box.pk)
    page = context | {
        "box": box,
        "form": form,
        "progress": firmware_updates.firmware_progress(box.pk),
        "supported": firmware_updates.firmware_supported(box),
        "simulated_only_note": firmware_updates.SIMULATED_ONLY_NOTE,
    }
    return render(request, "wallbox/firmware.html", page, status=400 if form.errors else 200)


@wallbox_page
def firmware_progress(request: HttpRequest, context: dict[str, Any], pk: int) -> HttpResponse:
    box = _box(request, context, pk)
    return JsonResponse(firmware_updates.firmware_progress(box.pk))


@wallbox_page
def sessions(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    rows = [
        {
            "session": session,
            "duration_text": _duration(session.duration_s),
            "energy_text": format_energy_kwh(session.energy_wh),
        }
        for session in ChargingSession.objects.filter(plant=context["plant"]).order_by("-started", "-pk")[:200]
    ]
    return render(request, "wallbox/sessions.html", context | {"sessions": rows})


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = int(seconds // 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


@wallbox_page
def phase_log(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(history.phase_log_text(context["plant"]), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="phase_switching_log.txt"'
    return response


def latest_state(plant: Any) -> PlantState | None:
    """The plant's latest snapshot (``None`` before the first cycle or while Redis is down); the API uses it too."""
    return safe_read_state(plant)[0]
