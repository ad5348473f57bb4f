"""Device > Software update (DEV-4): the version, the update mode, an offered version and the
upload of a package (upload progress, then the install job's progress). Reading needs a role on
every plant (it is the whole device's); changing anything needs the installer role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access.limits import body_limit
from portal import roles
from updates import package, releases, sources
from updates.limits import UPDATE_PACKAGE
from updates.models import UpdateRecord, UpdateSettings


class ModeForm(forms.ModelForm[UpdateSettings]):
    class Meta:
        model = UpdateSettings
        fields = ["mode"]
        labels = {"mode": gettext_lazy("Update mode")}
        widgets = {"mode": forms.RadioSelect}


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Update package"),
        help_text=gettext_lazy("A signed .ksemupd file from the vendor."),
        widget=forms.ClearableFileInput(attrs={"accept": package.SUFFIX}),
    )


def reason_text(reason: str) -> str:
    """A refusal's reason in the reader's language (the job's message is English)."""
    texts = {
        "not_package": _("This is no update package of this product."),
        "truncated": _("The package is cut off."),
        "bad_signature": _("The package's signature does not match the product's update key: it was refused."),
        "bad_manifest": _("The package's manifest is not valid."),
        "wrong_product": _("The package is for another product."),
        "downgrade": _("The package is not newer than the installed version: downgrades are refused."),
        "schema_too_old": _("This installation is too old for the package: install an intermediate version first."),
        "damaged": _("The package is damaged: its checksum does not match."),
        "broken_archive": _("The package's archive cannot be read."),
        "unsafe_member": _("The package holds a link, a special file or a path outside its folder: refused."),
        "too_large": _("The package is too large."),
        "no_key": _("The product's update key cannot be read."),
    }
    return str(texts.get(reason, ""))


def refusal(error: package.PackageError) -> str:
    """The refusal for people: the detailed English message, or the reason in the reader's language."""
    if (get_language() or "en").startswith("en"):
        return str(error)
    return reason_text(error.reason) or str(error)


def _installer(request: HttpRequest) -> bool:
    return roles.may_change(request.user, None, roles.SETTINGS)


def page_context(request: HttpRequest, mode_form: ModeForm | None = None) -> dict[str, Any]:
    row = UpdateSettings.load()
    return {
        "status": releases.status(),
        "settings": row,
        "source_url": sources.source_url(),
        "mode_form": mode_form or ModeForm(instance=row),
        "upload_form": UploadForm(),
        "history": UpdateRecord.objects.all()[:10],
        "running": releases.running_job(),
        "may_change": _installer(request),
        "max_bytes": UPDATE_PACKAGE.max_bytes,
    }


@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_GET
def update_page(request: HttpRequest) -> HttpResponse:
    return render(request, "updates/update.html", page_context(request))


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def save_mode(request: HttpRequest) -> HttpResponse:
    form = ModeForm(request.POST, instance=UpdateSettings.load())
    if not form.is_valid():
        return render(request, "updates/update.html", page_context(request, form), status=400)
    form.save()
    messages.success(request, _("The update mode has been saved."))
    return redirect("updates:update")


@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def check_now(request: HttpRequest) -> HttpResponse:
    """Check the update source now; with ``install``, install the version it offers."""
    result = sources.check(install="install" in request.POST)
    if result.get("reason") == "no_source":
        messages.error(request, _("No update source is configured (KSEM_UPDATE_URL)."))
    elif result.get("error"):
        messages.error(request, _("The update source could not be used: %(error)s") % {"error": result["error"]})
    elif result.get("job"):
        messages.info(request, _("Version %(version)s is being installed.") % {"version": result["available"]})
    elif result.get("available"):
        messages.info(request, _("Version %(version)s is available.") % {"version": result["available"]})
    else:
        messages.success(request, _("No newer version is available."))
    return redirect("updates:update")


@body_limit(UPDATE_PACKAGE)
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data(), "reason": ""}, status=400)
    file = form.cleaned_data["file"]
    try:
        record = releases.accept_upload(file, file.chunks(), by=request.user.get_username())
    except package.PackageError as error:
        form.add_error("file", refusal(error))
        return JsonResponse({"errors": form.errors.get_json_data(), "reason": error.reason}, status=400)
    return JsonResponse(releases.job_view(str(record["id"])) or {"id": record["id"]}, status=202)


@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_GET
def job(request: HttpRequest, job_id: str) -> HttpResponse:
    view = releases.job_view(job_id)
    if view is None:
        raise Http404("no such update job")
    return JsonResponse(view)
