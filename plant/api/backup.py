"""Backup and restore over the API (DEV-6): the page's jobs, for installers of the whole device
(sessions or admin tokens; an api token may not, reading included: a backup holds everything)."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.limits import BACKUP_FILE, body_limit
from access.permissions import InstallerOnly
from plant import backups
from portal import backup


class CreateSerializer(serializers.Serializer[Any]):
    password = serializers.CharField(
        min_length=8, trim_whitespace=False, help_text="protects the backup; 8+ characters"
    )


class RestoreSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="a backup made by this product")
    password = serializers.CharField(trim_whitespace=False)


class BackupView(APIView):
    """``POST /api/v1/device/backup``: start a backup job (202 with the job; poll it)."""

    permission_classes = [InstallerOnly]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=CreateSerializer, responses={202: dict, 400: dict})
    def post(self, request: Request) -> Response:
        body = CreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = backups.start_create(body.validated_data["password"])
        return Response(backups.job_view(str(record["id"])) or {"id": record["id"]}, status=status.HTTP_202_ACCEPTED)


@body_limit(BACKUP_FILE)
class RestoreView(APIView):
    """``POST /api/v1/device/backup/restore`` (multipart ``file``, ``password``): checked at once
    (400 with ``reason``: ``not_backup``, ``format_newer``, ``schema_newer``, ``schema_older``,
    ``wrong_password``, ``truncated``, ``damaged``), then restored by a job (202; poll it)."""

    permission_classes = [InstallerOnly]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": RestoreSerializer}, responses={202: dict, 400: dict})
    def post(self, request: Request) -> Response:
        body = RestoreSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            record = backups.accept_upload(body.validated_data["file"].chunks(), body.validated_data["password"])
        except backup.BackupError as error:
            return Response({"file": [str(error)], "reason": error.reason}, status=status.HTTP_400_BAD_REQUEST)
        return Response(backups.job_view(str(record["id"])) or {"id": record["id"]}, status=status.HTTP_202_ACCEPTED)


class BackupJobView(APIView):
    """``GET /api/v1/device/backup/jobs/{id}``: state, progress, message, ``reason`` of a failure, ``file`` when done."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses=dict)
    def get(self, request: Request, job_id: str) -> Response:
        view = backups.job_view(job_id)
        if view is None:
            raise Http404("no such backup job")
        return Response(view)


class BackupFileView(APIView):
    """``GET /api/v1/device/backup/files/{name}``: the finished backup (kept a day)."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, name: str) -> FileResponse:
        path = backups.file_path(name)
        if path is None or not name.endswith(backups.SUFFIX):
            raise Http404("no such backup")
        return FileResponse(
            open(path, "rb"), as_attachment=True, filename=name, content_type="application/octet-stream"
        )
