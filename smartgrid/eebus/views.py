"""The connections page (SG-4), under the Smart grid menu: the plant's own SHIP ID and SKI, the
EEBus devices found in the network or entered by hand, and couple / decouple / disconnect / new
connection. Installers only, reading included (what is trusted decides who may limit the plant)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pages.presentation import live_page_context
from portal import roles
from smartgrid.eebus import overview, store
from smartgrid.eebus.forms import NewConnectionForm, SkiForm
from smartgrid.eebus.ski import SkiError


def _installer_plant(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    plant = roles.request_plant(request)
    if plant is not None:
        roles.check_read(request.user, plant)
    if not roles.may_change(request.user, plant, roles.SETTINGS):
        return plant, roles.forbidden(request, roles.SETTINGS)
    return plant, None


def _render(request: HttpRequest, plant: Any, new_form: NewConnectionForm | None = None) -> HttpResponse:
    context = live_page_context(request)
    if plant is not None:
        context |= {
            "own": overview.own_identity(plant),
            "peers": overview.peer_rows(plant),
            "new_form": new_form or NewConnectionForm(),
        }
    return render(request, "smartgrid/connections.html", context, status=400 if new_form else 200)


@login_required
@require_GET
def connections(request: HttpRequest) -> HttpResponse:
    plant, refused = _installer_plant(request)
    if refused is not None:
        return refused
    return _render(request, plant)


ACTIONS = {
    "couple": (store.couple, "{label} is coupled: the energy manager accepts its connections."),
    "decouple": (store.decouple, "{label} is decoupled: its trust is removed and its connection dropped."),
    "disconnect": (store.disconnect, "{label} is disconnected."),
}


@login_required
@require_POST
def peer_action(request: HttpRequest, action: str) -> HttpResponse:
    plant, refused = _installer_plant(request)
    if refused is not None:
        return refused
    if plant is None or action not in ACTIONS:
        return redirect("eebus:connections")
    form = SkiForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(str(error) for error in form.errors["ski"]))
        return redirect("eebus:connections")
    function, text = ACTIONS[action]
    try:
        peer = function(plant.pk, form.cleaned_data["ski"])
    except (store.PeerError, SkiError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _(text).format(label=peer.label))
    return redirect("eebus:connections")


@login_required
@require_POST
def new_connection(request: HttpRequest) -> HttpResponse:
    plant, refused = _installer_plant(request)
    if refused is not None:
        return refused
    if plant is None:
        return redirect("eebus:connections")
    form = NewConnectionForm(request.POST)
    if not form.is_valid():
        return _render(request, plant, form)
    data = form.cleaned_data
    try:
        peer = store.connect(plant.pk, data["host"], data["port"], data["ski"])
    except (store.PeerError, SkiError) as exc:
        form.add_error(None, str(exc))
        return _render(request, plant, form)
    messages.success(
        request,
        _("{label} is coupled; the energy manager connects to {host}:{port}.").format(
            label=peer.label, host=peer.host, port=peer.port
        ),
    )
    return redirect("eebus:connections")
