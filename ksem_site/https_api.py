"""The HTTPS certificate over the API (ACC-3, ACC-5): status, upload of key + certificate, and a
new self-signed one. Thin over the page's own form and ``ksem_site.certificates``: the same
checks, the same size cap, the same messages. Reading for everyone logged in, changes for
installers (the page's roles)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiTypes, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ksem_site import certificates
from ksem_site.https_views import CertificateUploadForm

CERTIFICATE = inline_serializer(
    "HttpsCertificate",
    {
        "installed": serializers.BooleanField(),
        "subject": serializers.CharField(allow_null=True),
        "issuer": serializers.CharField(allow_null=True),
        "not_valid_after": serializers.DateTimeField(allow_null=True),
        "fingerprint_sha256": serializers.CharField(allow_null=True),
        "self_signed": serializers.BooleanField(allow_null=True),
        "names": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "https_port": serializers.IntegerField(),
    },
)


def _directory() -> Path:
    return Path(settings.HTTPS_DIR)


def certificate_data() -> dict[str, Any]:
    path = certificates.server_pem(_directory())
    if not path.exists():
        # Before the first HTTPS start: nothing installed yet (every field but the port is null).
        empty = dict.fromkeys(("subject", "issuer", "not_valid_after", "fingerprint_sha256", "self_signed", "names"))
        return {"installed": False, **empty, "https_port": settings.HTTPS_PORT}
    info = certificates.describe(path)
    return {
        "installed": True,
        "subject": info.subject,
        "issuer": info.issuer,
        "not_valid_after": info.not_valid_after.isoformat().replace("+00:00", "Z"),
        "fingerprint_sha256": info.fingerprint_sha256,
        "self_signed": info.self_signed,
        "names": list(info.names),
        "https_port": settings.HTTPS_PORT,
    }


class HttpsCertificateView(APIView):
    """``GET /api/https/certificate``: what HTTPS serves; ``POST`` (multipart ``key`` and
    ``certificate``, PEM) installs another pair, used by every new connection."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=CERTIFICATE)
    def get(self, request: Request) -> Response:
        return Response(certificate_data())

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {
            "key": {"type": "string", "format": "binary"}, "certificate": {"type": "string", "format": "binary"}}}},
        responses={200: CERTIFICATE, 400: OpenApiTypes.OBJECT},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        form = CertificateUploadForm(data={}, files=request.FILES)
        if not form.is_valid():
            errors = {("detail" if field == "__all__" else field): [str(m) for m in messages]
                      for field, messages in form.errors.items()}  # fmt: skip
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        certificates.install(_directory(), form.combined)
        return Response(certificate_data())


class HttpsRegenerateView(APIView):
    """``POST /api/https/certificate/regenerate``: a new self-signed certificate replaces the installed one."""

    @extend_schema(request=None, responses={200: CERTIFICATE})
    def post(self, request: Request) -> Response:
        certificates.regenerate(_directory())
        return Response(certificate_data())
