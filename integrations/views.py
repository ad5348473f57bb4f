"""The MQTT page: broker, TLS, user and password, prefix, discovery, the command user, the
connection status of ``serve_mqtt`` and a "test connection" button."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from integrations import services
from integrations.forms import MqttSettingsForm
from integrations.topics import availability_topic
from pages.presentation import live_page_context
from portal import roles


def _page(request: HttpRequest, form: MqttSettingsForm | None = None, test: tuple[bool, str] | None = None) -> Any:
    row = services.settings_row()
    config = services.broker_config()
    context = live_page_context(request)
    context |= {
        "form": form or MqttSettingsForm(instance=row),
        "status": services.read_status(),
        "config": config,
        "password_set": bool(row.password_encrypted),
        "availability": availability_topic(config.prefix),
        "test": test,
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "integrations/mqtt.html", context, status=status)


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_GET
def mqtt_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def save(request: HttpRequest) -> HttpResponse:
    row = services.settings_row()
    form = MqttSettingsForm(request.POST, instance=row)
    if not form.is_valid():
        return _page(request, form)
    saved = form.save(commit=False)
    services.set_password(saved, form.new_password())
    saved.save()
    messages.success(request, _("MQTT settings saved. The bridge applies them within a few seconds."))
    return redirect("integrations:mqtt")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def test_connection(request: HttpRequest) -> HttpResponse:
    """Connect once with the values in the form (not saved); the stored password unless one is typed."""
    row = services.settings_row()
    stored_password = services.from_row(row).password
    form = MqttSettingsForm(request.POST, instance=row)
    if not form.is_valid():
        return _page(request, form)
    candidate = services.from_row(form.save(commit=False))
    password = form.new_password()
    candidate = replace(candidate, password=stored_password if password is None else password)
    return _page(request, form, test=services.test_connection(candidate))
