"""Software updates over the API (DEV-4): ``/api/v1/device/update`` with the page's rules.

Reading (versions, mode, what the source offers) needs a role on every plant; changing the mode,
checking the source and uploading a package need the installer role (sessions or admin tokens).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.limits import body_limit
from access.permissions import ApiAccess, InstallerOnly
from updates import package, releases, sources
from updates.limits import UPDATE_PACKAGE
from updates.models import UpdateRecord, UpdateSettings


class ModeSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=UpdateSettings.Mode.choices)


class CheckSerializer(serializers.Serializer[Any]):
    install = serializers.BooleanField(default=False, help_text="install the version the source offers")


class UploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="a signed update package (.ksemupd)")


def state() -> dict[str, Any]:
    row = UpdateSettings.load()
    return {
        **releases.status(),
        "mode": row.mode,
        "source_configured": bool(sources.source_url()),
        "checked_at": row.checked_at.isoformat() if row.checked_at else None,
        "check_error": row.check_error,
        "available_version": row.available_version or None,
        "job": releases.running_job(),
        "history": [
            {
                "version": r.version,
                "previous_version": r.previous_version,
                "source": r.source,
                "installed_by": r.installed_by,
                "installed_at": r.installed_at.isoformat(),
            }
            for r in UpdateRecord.objects.all()[:10]
        ],
    }


class UpdateView(APIView):
    """``GET /api/v1/device/update``: versions (``version`` runs, ``installed_version`` is what
    ``releases/current`` holds, ``restart_needed``), the mode and what the source offers.
    ``PUT``/``PATCH`` ``{"mode": "automatic" | "notify" | "manual"}`` sets the mode (installers)."""

    permission_classes = [ApiAccess]
    parser_classes = [JSONParser, FormParser]

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(state())

    @extend_schema(request=ModeSerializer, responses={200: dict, 400: dict})
    def put(self, request: Request) -> Response:
        body = ModeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        UpdateSettings.load()
        UpdateSettings.objects.filter(pk=1).update(mode=body.validated_data["mode"])
        return Response(state())

    patch = put


class CheckView(APIView):
    """``POST /api/v1/device/update/check`` (``{"install": true}`` to install what is offered)."""

    permission_classes = [InstallerOnly]
    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=CheckSerializer, responses={200: dict, 409: dict, 502: dict})
    def post(self, request: Request) -> Response:
        body = CheckSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = sources.check(install=body.validated_data["install"])
        if result.get("reason") == "no_source":
            return Response({"detail": "no update source is configured (KSEM_UPDATE_URL)"}, status=409)
        code = status.HTTP_502_BAD_GATEWAY if result.get("error") else status.HTTP_200_OK
        return Response({**result, **state()}, status=code)


@body_limit(UPDATE_PACKAGE)
class PackageView(APIView):
    """``POST /api/v1/device/update/package`` (multipart ``file``): checked at once (400 with
    ``reason``: ``bad_signature``, ``downgrade``, ``broken_archive``, ``unsafe_member``, ...; nothing
    written), then installed by a job (202; poll ``/api/v1/device/update/jobs/{id}``)."""

    permission_classes = [InstallerOnly]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={202: dict, 400: dict})
    def post(self, request: Request) -> Response:
        body = UploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        file = body.validated_data["file"]
        try:
            record = releases.accept_upload(file, file.chunks(), by=request.user.get_username())
        except package.PackageError as error:
            return Response({"file": [str(error)], "reason": error.reason}, status=status.HTTP_400_BAD_REQUEST)
        return Response(releases.job_view(str(record["id"])) or {"id": record["id"]}, status=status.HTTP_202_ACCEPTED)


class JobView(APIView):
    """``GET /api/v1/device/update/jobs/{id}``: state, progress, message, ``reason`` of a refusal, ``version``."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses=dict)
    def get(self, request: Request, job_id: str) -> Response:
        view = releases.job_view(job_id)
        if view is None:
            raise Http404("no such update job")
        return Response(view)
