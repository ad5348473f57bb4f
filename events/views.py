"""The event log page (``/events/``, filters and pages) and the e-mail settings page
(``/events/mail/``: SMTP server, TLS, login, recipients, classes, "send test mail")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from events import mail, services
from events.forms import MailSettingsForm
from events.models import KIND_CHOICES, SEVERITY_CHOICES
from pages.params import int_param
from pages.presentation import live_page_context
from portal import roles

PER_PAGE = 50
MAX_PAGE = 100_000


def readable_plants(user: Any) -> list[Any]:
    from django.apps import apps

    plants = apps.get_model("plant", "Plant").objects.order_by("name")
    readable = roles.readable_plant_ids(user)
    return list(plants if readable is None else plants.filter(pk__in=readable))


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    filters = services.parse_filters(request.GET)
    if filters.plant_id is not None:
        roles.check_read(request.user, filters.plant_id)
    events = services.filtered(services.visible_to(request.user), filters)
    number = int_param(request.GET, "page", low=1, high=MAX_PAGE, default=1) or 1
    page = Paginator(events, PER_PAGE).get_page(number)
    context = live_page_context(request)
    context |= {
        "page": page,
        "filters": filters,
        "query": filters.query(),
        "kinds": KIND_CHOICES,
        "severities": SEVERITY_CHOICES,
        "plants": readable_plants(request.user),
        "may_mail": roles.may_read(request.user, None),
    }
    return render(request, "events/list.html", context)


def _mail_page(
    request: HttpRequest, form: MailSettingsForm | None = None, test: tuple[bool, str] | None = None
) -> HttpResponse:
    row = services.settings_row()
    context = live_page_context(request)
    context |= {
        "form": form or MailSettingsForm(instance=row, initial={"kinds": row.kinds}),
        "password_set": bool(row.password_encrypted),
        "test": test,
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "events/mail.html", context, status=status)


@login_required
@roles.require_read(plant_of=roles.whole_device)
@require_GET
def mail_settings(request: HttpRequest) -> HttpResponse:
    return _mail_page(request)


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def mail_save(request: HttpRequest) -> HttpResponse:
    row = services.settings_row()
    form = MailSettingsForm(request.POST, instance=row)
    if not form.is_valid():
        return _mail_page(request, form)
    saved = form.save(commit=False)
    services.set_password(saved, form.new_password())
    saved.save()
    messages.success(request, _("E-mail settings saved."))
    return redirect("events:mail")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def mail_test(request: HttpRequest) -> HttpResponse:
    """Send a test mail with the values in the form (not saved); the stored password unless one is typed."""
    row = services.settings_row()
    stored = mail.Server.of(row).password
    form = MailSettingsForm(request.POST, instance=row)
    if not form.is_valid():
        return _mail_page(request, form)
    candidate = form.save(commit=False)
    missing = services.test_needs(candidate)
    if missing:
        return _mail_page(request, form, test=(False, missing))
    password = form.new_password()
    return _mail_page(request, form, test=services.send_test(candidate, stored if password is None else password))
