"""The device settings over the API (``/api/v1/device/...``), with the page's checks and roles:
reading needs a role on every plant; changes, restart, reset and the logs an installer (a session
or an admin token)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import devicejobs
from access.permissions import InstallerOnly
from device import reset, restart, services, system, views
from device.forms import LogPeriodForm


class ProcessSerializer(serializers.Serializer[Any]):
    pid = serializers.IntegerField()
    name = serializers.CharField()
    cpu_percent = serializers.FloatField()
    rss_mb = serializers.FloatField()
    started = serializers.FloatField(help_text="start time, seconds since 1970 (UTC)")


class InterfaceSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    mac = serializers.CharField()
    addresses = serializers.ListField(child=serializers.CharField())
    up = serializers.BooleanField()


class SystemSerializer(serializers.Serializer[Any]):
    product = serializers.CharField()
    version = serializers.CharField()
    serial_number = serializers.CharField()
    host_name = serializers.CharField()
    boot_time = serializers.FloatField()
    uptime_s = serializers.FloatField()
    cpu_count = serializers.IntegerField()
    cpu_percent = serializers.FloatField()
    memory_total_mb = serializers.FloatField()
    memory_used_mb = serializers.FloatField()
    memory_percent = serializers.FloatField()
    product_cpu_percent = serializers.FloatField()
    product_rss_mb = serializers.FloatField()
    processes = ProcessSerializer(many=True)
    interfaces = InterfaceSerializer(many=True)
    gateway = serializers.CharField(help_text="the host's default IPv4 gateway; empty: none")
    dns = serializers.ListField(child=serializers.CharField(), help_text="the host's name servers")


class NetworkInSerializer(serializers.Serializer[Any]):
    host_name = serializers.CharField(help_text="letters, digits, hyphens; 1-63")
    addressing = serializers.ChoiceField(choices=["dhcp", "static"])
    address = serializers.CharField(required=False, help_text="static only: IPv4 address")
    netmask = serializers.CharField(required=False, help_text="static only: 255.255.255.0 or 24")
    gateway = serializers.CharField(required=False, help_text="static only: in the device's network")
    dns = serializers.ListField(child=serializers.CharField(), required=False, help_text="static only: 1-2 addresses")
    upnp_enabled = serializers.BooleanField(required=False, help_text="UPnP discovery; missing: off")


class NetworkSerializer(serializers.Serializer[Any]):
    host_name = serializers.CharField()
    addressing = serializers.ChoiceField(choices=["dhcp", "static"])
    address = serializers.CharField()
    netmask = serializers.CharField()
    gateway = serializers.CharField()
    dns = serializers.ListField(child=serializers.CharField())
    upnp_enabled = serializers.BooleanField()
    saved_at = serializers.DateTimeField(allow_null=True)
    applied = serializers.BooleanField(help_text="whether the host follows these settings (not on this platform)")


class TimeInSerializer(serializers.Serializer[Any]):
    time_zone = serializers.CharField(help_text="an IANA zone, e.g. Europe/Berlin")
    ntp_enabled = serializers.BooleanField()
    ntp_server = serializers.CharField(required=False, help_text="IP address or host name; needed with NTP on")


class TimeSerializer(serializers.Serializer[Any]):
    time_zone = serializers.CharField()
    ntp_enabled = serializers.BooleanField()
    ntp_server = serializers.CharField()
    clock_offset_s = serializers.FloatField()
    device_time = serializers.DateTimeField()
    host_time = serializers.DateTimeField()
    saved_at = serializers.DateTimeField(allow_null=True)


class SetTimeSerializer(serializers.Serializer[Any]):
    browser_time_ms = serializers.FloatField(help_text="the caller's clock, milliseconds since 1970 (UTC)")


class Rs485Serializer(serializers.Serializer[Any]):
    name = serializers.ChoiceField(choices=["A", "B"])
    enabled = serializers.BooleanField()
    device = serializers.CharField()
    application = serializers.CharField(help_text="who holds the line; empty: nobody (switched off)")


class SupervisedSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    state = serializers.CharField()
    pid = serializers.IntegerField()
    started = serializers.IntegerField()


class RestartStatusSerializer(serializers.Serializer[Any]):
    available = serializers.BooleanField()
    reason = serializers.CharField()
    state = serializers.CharField()
    processes = SupervisedSerializer(many=True)


class RestartSerializer(serializers.Serializer[Any]):
    confirm = serializers.BooleanField(help_text="true: restart every process now")


class ResetSerializer(serializers.Serializer[Any]):
    confirmation = serializers.CharField(help_text="the word RESET or the device's serial number, typed")


class JobSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    state = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    progress_pct = serializers.FloatField()
    message = serializers.CharField()


def _invalid(invalid: services.Invalid) -> Response:
    return Response({field: [message] for field, message in invalid.errors.items()}, status=400)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        if hasattr(data, "dict"):
            return dict(data.dict())
        raise serializers.ValidationError({"detail": "a JSON object"})
    return data


class SystemView(APIView):
    """``GET /api/v1/device/system``: product, version, serial, CPU and memory of the product's
    processes and of the host, uptime, host name, interfaces with addresses and MAC (DEV-1)."""

    @extend_schema(responses=SystemSerializer)
    def get(self, request: Request) -> Response:
        info = system.collect().as_dict()
        return Response({**info, "serial_number": reset.device_serial()})


class NetworkView(APIView):
    """``GET/PUT /api/v1/device/network``: host name, ``addressing`` dhcp or static, ``address``,
    ``netmask``, ``gateway``, ``dns`` (a list). Stored; ``applied`` says whether the host follows them
    (not on this platform)."""

    @extend_schema(responses=NetworkSerializer)
    def get(self, request: Request) -> Response:
        return Response(services.settings_view()["network"])

    @extend_schema(request=NetworkInSerializer, responses={200: NetworkSerializer, 400: dict})
    def put(self, request: Request) -> Response:
        try:
            row = services.save_network(_body(request))
        except services.Invalid as invalid:
            return _invalid(invalid)
        return Response(services.settings_view(row)["network"])


class TimeView(APIView):
    """``GET/PUT /api/v1/device/time``: ``time_zone``, ``ntp_enabled``, ``ntp_server``; the device
    time (host clock + ``clock_offset_s``) is shown."""

    @extend_schema(responses=TimeSerializer)
    def get(self, request: Request) -> Response:
        return Response(services.settings_view()["time"])

    @extend_schema(request=TimeInSerializer, responses={200: TimeSerializer, 400: dict})
    def put(self, request: Request) -> Response:
        try:
            row = services.save_time(_body(request))
        except services.Invalid as invalid:
            return _invalid(invalid)
        return Response(services.settings_view(row)["time"])


class SetTimeView(APIView):
    """``POST /api/v1/device/time/set`` ``{"browser_time_ms": ...}``: the caller's clock becomes the
    device's (an offset; the host clock is never changed), NTP off."""

    @extend_schema(request=SetTimeSerializer, responses={200: TimeSerializer, 400: dict})
    def post(self, request: Request) -> Response:
        try:
            row = services.set_time_from_browser(_body(request).get("browser_time_ms"))
        except services.Invalid as invalid:
            return _invalid(invalid)
        return Response(services.settings_view(row)["time"])


class Rs485View(APIView):
    """``GET /api/v1/device/rs485``: which application holds RS485 A and B (DEV-5)."""

    @extend_schema(responses=Rs485Serializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([line.__dict__ for line in services.rs485_status()])


class RestartView(APIView):
    """``GET /api/v1/device/restart``: whether the supervisor can restart the product here and the
    state of each process; ``POST`` ``{"confirm": true}``: restart them all (202)."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses=RestartStatusSerializer)
    def get(self, request: Request) -> Response:
        current = restart.status(settings.VAR_DIR)
        return Response(current.__dict__)

    @extend_schema(request=RestartSerializer, responses={202: dict, 400: dict, 409: dict})
    def post(self, request: Request) -> Response:
        if _body(request).get("confirm") is not True:
            return Response({"confirm": ["Send confirm: true to restart every process."]}, status=400)
        try:
            restart.restart_all(settings.VAR_DIR)
        except restart.RestartError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response({"state": "restarting"}, status=status.HTTP_202_ACCEPTED)


class ResetView(APIView):
    """``POST /api/v1/device/factory-reset`` ``{"confirmation": "RESET"}`` (or the serial number):
    the reset runs as a job (202); poll ``/api/v1/device/factory-reset/jobs/{id}``."""

    permission_classes = [InstallerOnly]

    @extend_schema(request=ResetSerializer, responses={202: JobSerializer, 400: dict})
    def post(self, request: Request) -> Response:
        if not reset.confirmation_matches(str(_body(request).get("confirmation", ""))):
            return Response(
                {"confirmation": ["Type RESET or this device's serial number; nothing was reset."]}, status=400
            )
        record = devicejobs.submit(reset.KIND, {}, target="device")
        return Response(views.job_view(str(record["id"])) or {"id": record["id"]}, status=status.HTTP_202_ACCEPTED)


class ResetJobView(APIView):
    """``GET /api/v1/device/factory-reset/jobs/{id}``: state and progress (the random id is the key:
    the reset removes every account and token, the caller's too)."""

    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []

    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        view = views.job_view(job_id)
        if view is None:
            raise Http404("no such reset job")
        return Response(view)


class LogsView(APIView):
    """``GET /api/v1/device/logs?start=...&end=...`` (ISO 8601; without a zone in the device's time
    zone): a zip with the lines of every process written in that period."""

    permission_classes = [InstallerOnly]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, required=True, description="from (inclusive)"),
            OpenApiParameter(
                "end", OpenApiTypes.DATETIME, required=True, description="to (exclusive); at most 31 days"
            ),
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: dict},
    )
    def get(self, request: Request) -> Response | FileResponse:
        from django.utils import timezone

        from device.models import DeviceSettings

        with timezone.override(views._zone(DeviceSettings.load())):
            form = LogPeriodForm(request.query_params)
            if not form.is_valid():
                return Response(form.errors.get_json_data(), status=400)
        return views.logs_response(form.cleaned_data["start"], form.cleaned_data["end"])
