"""Modbus settings (5.14): slave and TLS, client certificates, RS485 A/B, TCP master, the map as
served right now, export and import of the whole configuration."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.limits import MODBUS_CONFIG, body_limit
from energy.state import PlantState
from modbus import registermap, services
from modbus.forms import ImportForm, MasterSettingsForm, MasterTargetForm, SerialInterfaceForm, SlaveSettingsForm
from modbus.models import INTERVAL_CHOICES_S, MAX_TARGETS, ClientCertificate, MasterTarget, SerialInterface
from modbus.wallbox_control import WallboxControls
from pages.presentation import live_page_context, safe_read_state
from portal import roles


def served_state() -> tuple[Any, PlantState | None]:
    """The served plant and its latest snapshot (None before the first cycle or while Redis is down)."""
    plant_id = services.served_plant_id()
    plant: Any = services.plant_model()._default_manager.filter(pk=plant_id).first() if plant_id else None
    return plant, safe_read_state(plant)[0]


def map_rows(plant: Any, state: PlantState | None) -> list[registermap.MapRow]:
    info = services.product_info(plant.pk if plant else 0)
    controls = services.load_wallbox_controls(plant.pk) if plant else WallboxControls()
    return registermap.overview(state, info, controls)


def _page(request: HttpRequest, **forms: Any) -> HttpResponse:
    modbus_settings = services.get_settings()
    interfaces = services.serial_interfaces()
    statuses = services.read_target_statuses()
    served_plant, state = served_state()
    targets = [
        {"target": target, "form": forms.get(f"target_{target.pk}"), **services.target_status(statuses, target.pk)}
        for target in MasterTarget.objects.all()
    ]
    context = live_page_context(request)
    context |= {
        "slave_form": forms.get("slave_form") or SlaveSettingsForm(instance=modbus_settings),
        "master_form": forms.get("master_form") or MasterSettingsForm(instance=modbus_settings),
        "serial_forms": [
            {
                "interface": interface,
                "form": forms.get(f"serial_{interface.name}") or SerialInterfaceForm(instance=interface),
                "device": services.device_of(interface),
            }
            for interface in interfaces
        ],
        "target_form": forms.get("target_form") or MasterTargetForm(),
        "targets": targets,
        "can_add_target": len(targets) < MAX_TARGETS,
        "max_targets": MAX_TARGETS,
        "interval_choices": INTERVAL_CHOICES_S,
        "certificates": ClientCertificate.objects.all(),
        "server_fingerprint": services.server_fingerprint(),
        "import_form": forms.get("import_form") or ImportForm(),
        "served_plant": served_plant,
        "served_state": state,
        "rows": map_rows(served_plant, state),
        "ports": {"tcp": settings.MODBUS_PORT, "tls": settings.MODBUS_TLS_PORT},
        "settings_obj": modbus_settings,
    }
    return render(request, "modbus/settings.html", context, status=400 if forms else 200)


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_GET
def modbus_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def save_slave(request: HttpRequest) -> HttpResponse:
    form = SlaveSettingsForm(request.POST, instance=services.get_settings())
    if not form.is_valid():
        return _page(request, slave_form=form)
    form.save()
    messages.success(request, _("Modbus slave settings saved."))
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def save_master(request: HttpRequest) -> HttpResponse:
    form = MasterSettingsForm(request.POST, instance=services.get_settings())
    if not form.is_valid():
        return _page(request, master_form=form)
    form.save()
    messages.success(request, _("Modbus master settings saved."))
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def save_serial(request: HttpRequest, name: str) -> HttpResponse:
    services.serial_interfaces()
    interface = get_object_or_404(SerialInterface, name=name)
    form = SerialInterfaceForm(request.POST, instance=interface)
    if not form.is_valid():
        return _page(request, **{f"serial_{name}": form})
    form.save()
    messages.success(request, _("RS485 %(name)s saved.") % {"name": name})
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def add_target(request: HttpRequest) -> HttpResponse:
    form = MasterTargetForm(request.POST)
    if not form.is_valid():
        return _page(request, target_form=form)
    form.save()
    messages.success(request, _("Target added."))
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def delete_target(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(MasterTarget, pk=pk).delete()
    messages.success(request, _("Target deleted."))
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def accept_certificate(request: HttpRequest, pk: int) -> HttpResponse:
    services.accept_certificate(get_object_or_404(ClientCertificate, pk=pk))
    messages.success(request, _("Certificate accepted."))
    return redirect("modbus:settings")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def delete_certificate(request: HttpRequest, pk: int) -> HttpResponse:
    services.delete_certificate(get_object_or_404(ClientCertificate, pk=pk))
    messages.success(request, _("Certificate deleted; its connections are closed."))
    return redirect("modbus:settings")


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_GET
def export_config(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(json.dumps(services.export_config(), indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="modbus-config.json"'
    return response


@body_limit(MODBUS_CONFIG)
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_http_methods(["POST"])
def import_config(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, import_form=form)
    try:
        services.import_config(form.cleaned_data["file"].read())
    except services.ConfigFileError as exc:
        form.add_error("file", str(exc))
        return _page(request, import_form=form)
    messages.success(request, _("Modbus configuration imported."))
    return redirect("modbus:settings")
