"""Device > Backup (DEV-6): make a backup (a job with progress, then one file to download) and
restore one (upload with progress, then a job with progress). Installers of the whole device only:
a backup holds every plant's settings and data."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access.limits import BACKUP_FILE, body_limit
from plant import backups
from portal import backup, roles

MIN_PASSWORD = 8


class CreateForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Backup password"),
        min_length=MIN_PASSWORD,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("At least 8 characters. Without it the backup cannot be restored: keep it safe."),
    )
    password_again = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class RestoreForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Backup file"))
    password = forms.CharField(label=gettext_lazy("Backup password"), strip=False, widget=forms.PasswordInput())


def _installer(request: HttpRequest) -> bool:
    return roles.may_change(request.user, None, roles.SETTINGS)


def _errors(form: forms.Form, reason: str = "") -> JsonResponse:
    return JsonResponse({"errors": form.errors.get_json_data(), "reason": reason}, status=400)


@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_GET
def backup_page(request: HttpRequest) -> HttpResponse:
    if not _installer(request):
        return roles.forbidden(request, roles.SETTINGS)
    context = {"create_form": CreateForm(), "restore_form": RestoreForm(), "max_bytes": BACKUP_FILE.max_bytes}
    return render(request, "plant/backup.html", context)


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    form = CreateForm(request.POST)
    if not form.is_valid():
        return _errors(form)
    record = backups.start_create(form.cleaned_data["password"])
    return JsonResponse(backups.job_view(str(record["id"])) or {"id": record["id"]}, status=202)


@body_limit(BACKUP_FILE)
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def restore(request: HttpRequest) -> HttpResponse:
    form = RestoreForm(request.POST, request.FILES)
    if not form.is_valid():
        return _errors(form)
    try:
        record = backups.accept_upload(form.cleaned_data["file"].chunks(), form.cleaned_data["password"])
    except backup.BackupError as error:
        form.add_error("password" if error.reason == "wrong_password" else "file", str(error))
        return _errors(form, error.reason)
    return JsonResponse(backups.job_view(str(record["id"])) or {"id": record["id"]}, status=202)


@never_cache
@login_required
@require_GET
def job(request: HttpRequest, job_id: str) -> HttpResponse:
    if not _installer(request):
        return roles.forbidden(request, roles.SETTINGS)
    view = backups.job_view(job_id)
    if view is None:
        raise Http404("no such backup job")
    return JsonResponse(view)


@never_cache
@login_required
@require_GET
def download(request: HttpRequest, name: str) -> HttpResponse | FileResponse:
    if not _installer(request):
        return roles.forbidden(request, roles.SETTINGS)
    path = backups.file_path(name)
    if path is None or not name.endswith(backups.SUFFIX):
        raise Http404("no such backup")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name, content_type="application/octet-stream")
