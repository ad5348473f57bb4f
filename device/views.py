"""Device settings (DEV-1, DEV-2, DEV-5, DEV-7, DEV-8): one page with the system information,
network, time, RS485 status, restart, factory reset and the log download.

Everybody with a role on every plant may read it; changes, restart, reset and the logs need an
installer of the whole device (``portal.roles``)."""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

import devicejobs
from device import logfiles, reset, restart, services, system
from device.forms import LogPeriodForm, NetworkForm, ResetForm, RestartForm, TimeForm
from device.models import DeviceSettings
from plant.models import Plant
from portal import roles

guard = roles.require(roles.SETTINGS, plant_of=roles.whole_device)


def _installer(request: HttpRequest) -> bool:
    return roles.may_change(request.user, None, roles.SETTINGS)


def _zone(row: DeviceSettings) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(row.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _factory_host_name() -> str:
    serial = reset.device_serial()
    return f"KSEM-{serial}" if serial else socket.gethostname()


def _network_initial(row: DeviceSettings) -> dict[str, Any]:
    return {
        # The factory host name is KSEM-<serial number> (manual 5.15.1).
        "host_name": row.host_name or _factory_host_name(),
        "addressing": row.addressing,
        "address": row.address,
        "netmask": row.netmask,
        "gateway": row.gateway,
        "dns": " ".join(row.dns),
        "upnp_enabled": row.upnp_enabled,
    }


def _page(request: HttpRequest, status: int = 200, **forms: Any) -> HttpResponse:
    row = DeviceSettings.load()
    zone = _zone(row)
    now = timezone.now().astimezone(zone)
    info = system.collect()
    product_started = min((p.started for p in info.processes), default=None)
    context = {
        "info": info,
        "boot_time": dt.datetime.fromtimestamp(info.boot_time, dt.UTC),
        "product_started": dt.datetime.fromtimestamp(product_started, dt.UTC) if product_started else None,
        "serial_number": reset.device_serial(),
        "plants": Plant.objects.count(),
        "row": row,
        "device_settings": services.settings_view(row),
        "network_applied": services.NETWORK_APPLIED,
        "rs485": services.rs485_status(),
        "network_form": forms.get("network_form") or NetworkForm(initial=_network_initial(row)),
        "time_form": forms.get("time_form")
        or TimeForm(initial={"time_zone": row.time_zone, "ntp_enabled": row.ntp_enabled, "ntp_server": row.ntp_server}),
        "restart_form": forms.get("restart_form") or RestartForm(),
        "reset_form": forms.get("reset_form") or ResetForm(),
        "log_form": forms.get("log_form")
        or LogPeriodForm(
            initial={
                "start": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                "end": (now + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
            }
        ),
        "device_zone": str(zone),
        "supervisor": restart.status(settings.VAR_DIR),
        "may_change": _installer(request),
        "confirm_word": reset.CONFIRM_WORD,
    }
    return render(request, "device/system.html", context, status=status)


@never_cache
@login_required
@guard
@require_GET
def system_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@guard
@require_POST
def save_network(request: HttpRequest) -> HttpResponse:
    form = NetworkForm(request.POST)
    if not form.is_valid():
        return _page(request, 400, network_form=form)
    services.save_network(form.cleaned_data)
    messages.success(request, _("The network settings are stored. This installation does not apply them to the host."))
    return redirect("device:system")


@login_required
@guard
@require_POST
def save_time(request: HttpRequest) -> HttpResponse:
    form = TimeForm(request.POST)
    if not form.is_valid():
        return _page(request, 400, time_form=form)
    services.save_time(form.cleaned_data)
    messages.success(request, _("The time settings are saved."))
    return redirect("device:system")


@login_required
@guard
@require_POST
def set_time(request: HttpRequest) -> HttpResponse:
    try:
        services.set_time_from_browser(request.POST.get("browser_time_ms"))
    except services.Invalid as invalid:
        messages.error(request, " ".join(invalid.errors.values()))
        return redirect("device:system")
    messages.success(request, _("The device time follows your browser's clock now (NTP is off)."))
    return redirect("device:system")


@never_cache
@login_required
@guard
@require_GET
def restart_status(request: HttpRequest) -> HttpResponse:
    current = restart.status(settings.VAR_DIR)
    return JsonResponse({"available": current.available, "reason": current.reason, "state": current.state,
                         "processes": current.processes})  # fmt: skip


@login_required
@guard
@require_POST
def restart_now(request: HttpRequest) -> HttpResponse:
    form = RestartForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    try:
        restart.restart_all(settings.VAR_DIR)
    except restart.RestartError as error:
        return JsonResponse({"errors": {"__all__": [{"message": str(error)}]}}, status=409)
    return JsonResponse({"state": "restarting"}, status=202)


@login_required
@guard
@require_POST
def factory_reset(request: HttpRequest) -> HttpResponse:
    form = ResetForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    record = devicejobs.submit(reset.KIND, {}, target="device")
    return JsonResponse(job_view(str(record["id"])) or {"id": record["id"]}, status=202)


def job_view(job_id: str) -> dict[str, Any] | None:
    record = devicejobs.read_job(job_id)
    if record is None or record.get("kind") != reset.KIND:
        return None
    return {
        "id": job_id,
        "state": record.get("state"),
        "progress_pct": record.get("progress_pct", 0.0),
        "message": record.get("message", ""),
    }


@never_cache
@require_GET
def reset_job(request: HttpRequest, job_id: str) -> HttpResponse:
    """The progress of a reset, for whoever knows its random id: the reset ends every session,
    the installer's included, and the page must still learn that it is done."""
    view = job_view(job_id)
    if view is None:
        raise Http404("no such reset job")
    return JsonResponse(view)


@never_cache
@login_required
@require_GET
def download_logs(request: HttpRequest) -> HttpResponse | FileResponse:
    if not _installer(request):
        return roles.forbidden(request, roles.SETTINGS)
    row = DeviceSettings.load()
    with timezone.override(_zone(row)):
        form = LogPeriodForm(request.GET)
        if not form.is_valid():
            return _page(request, 400, log_form=form)
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return logs_response(start, end)


def logs_response(start: dt.datetime, end: dt.datetime) -> FileResponse:
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 - FileResponse closes it
    logfiles.write_archive(spool, settings.VAR_DIR, start, end)
    spool.seek(0)
    name = f"ksem-logs-{start.astimezone(dt.UTC):%Y%m%dT%H%MZ}-{end.astimezone(dt.UTC):%Y%m%dT%H%MZ}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")
