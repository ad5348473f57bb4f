"""Solar portal (SP-1): the uplink page of the current plant, and the built-in portal's page with
the plants registered with it and the reports they sent."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pages.presentation import live_page_context
from portal import roles
from portal.roles import SETTINGS, may_change
from solarportal import receiver, services
from solarportal.forms import RegisterForm, UplinkForm
from solarportal.models import OutboxReport, PortalPlant

RECENT = 12
RECEIVED_SHOWN = 96  # one day of reports


@login_required
@require_http_methods(["GET", "POST"])
def uplink(request: HttpRequest) -> HttpResponse:
    context = live_page_context(request)
    plant = context["plant"]
    if plant is None:
        return render(request, "solarportal/uplink.html", context)
    may_edit = may_change(request.user, plant, SETTINGS)
    row = services.uplink_of(plant)
    initial = {"enabled": row.enabled, "endpoint_url": row.endpoint_url}
    form = UplinkForm(request.POST or None, initial=initial, credential_set=bool(row.credential_encrypted))
    status = 200
    if request.method == "POST":
        if not may_edit:
            return HttpResponse(_("Only an installer may change these settings."), status=403)
        if form.is_valid():
            data = form.cleaned_data
            services.save_settings(
                plant, enabled=data["enabled"], endpoint_url=data["endpoint_url"], credential=form.new_credential()
            )
            if data["enabled"]:
                messages.success(request, _("Saved: data transfer to the solar portal is on."))
            else:
                messages.success(request, _("Saved: data transfer to the solar portal is off."))
            return redirect("solarportal:uplink")
        status = 400
    context |= {
        "form": form,
        "may_change_settings": may_edit,
        "uplink_status": services.status(plant),
        "recent": OutboxReport.objects.filter(plant=plant).order_by("-interval_start")[:RECENT],
    }
    return render(request, "solarportal/uplink.html", context, status=status)


def _portal_page(request: HttpRequest, form: RegisterForm | None = None, status: int = 200) -> HttpResponse:
    plants = PortalPlant.objects.annotate(count=Count("reports"), last=Max("reports__received_at"))
    chosen = None
    serial = request.GET.get("serial", "")
    if serial:
        chosen = PortalPlant.objects.filter(serial_number=serial).first()
    reports: Any = []
    if chosen is not None:
        reports = chosen.reports.order_by("-interval_start")[:RECEIVED_SHOWN]
    context = live_page_context(request) | {
        "portal_plants": plants,
        "chosen": chosen,
        "reports": reports,
        "register_form": form or RegisterForm(),
        "may_register": may_change(request.user, None, SETTINGS),
        "receive_path": request.build_absolute_uri("/solarportal/receive/"),
    }
    return render(request, "solarportal/portal.html", context, status=status)


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_GET
def portal(request: HttpRequest) -> HttpResponse:
    return _portal_page(request)


@login_required
@roles.require(SETTINGS, plant_of=roles.whole_device)
@require_POST
def register(request: HttpRequest) -> HttpResponse:
    form = RegisterForm(request.POST)
    if not form.is_valid():
        return _portal_page(request, form, status=400)
    data = form.cleaned_data
    row, credential = receiver.register(data["serial_number"], data["article_number"], data["name"], data["credential"])
    if data["credential"]:
        messages.success(request, _("Plant %(serial)s registered.") % {"serial": row.serial_number})
    else:
        messages.success(
            request,
            _("Plant %(serial)s registered. Its credential (shown this once): %(credential)s")
            % {"serial": row.serial_number, "credential": credential},
        )
    return redirect("solarportal:portal")
