"""The installer's HTTPS certificate page (ACC-5): what is served, and uploading another pair."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from access.limits import CERTIFICATE, body_limit
from ksem_site import certificates
from portal import roles


def _read(upload: UploadedFile, what: str) -> bytes:
    if upload.size is not None and upload.size > certificates.MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            _("The %(what)s file is larger than %(kb)d KB.")
            % {"what": what, "kb": certificates.MAX_UPLOAD_BYTES // 1024}
        )
    return b"".join(upload.chunks())


class CertificateUploadForm(forms.Form):
    key = forms.FileField(label=gettext_lazy("Private key (PEM, without a password)"))
    certificate = forms.FileField(
        label=gettext_lazy("Certificate (PEM; the server certificate first, then any intermediate certificates)")
    )

    combined: bytes

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        key, certificate = cleaned.get("key"), cleaned.get("certificate")
        if not isinstance(key, UploadedFile) or not isinstance(certificate, UploadedFile):
            return cleaned
        try:
            self.combined = certificates.validate_pair(_read(key, "key"), _read(certificate, "certificate"))
        except certificates.CertificateError as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned


@body_limit(CERTIFICATE)
@never_cache
@login_required
@roles.require(roles.SETTINGS, plant_of=roles.whole_device)
@require_http_methods(["GET", "POST"])
def https_certificate(request: HttpRequest) -> HttpResponse:
    directory = Path(settings.HTTPS_DIR)
    form = CertificateUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        certificates.install(directory, form.combined)
        messages.success(request, _("The new certificate is installed; HTTPS uses it for every new connection."))
        return redirect("https-certificate")
    path = certificates.server_pem(directory)
    context = {
        "form": form,
        "info": certificates.describe(path) if path.exists() else None,
        "https_port": settings.HTTPS_PORT,
        "may_upload": roles.may_change(request.user, None, roles.SETTINGS),
    }
    return render(request, "site/https.html", context, status=400 if form.is_bound else 200)
