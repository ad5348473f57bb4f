"""The Modbus configuration over the JSON API: settings, RS485, master targets, client
certificates, the map as served now, and export/import of the whole configuration (MB-5)."""

from __future__ import annotations

import json
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.limits import MODBUS_CONFIG
from access.parsers import JSONParser
from modbus import services
from modbus.api.serializers import (
    ClientCertificateSerializer,
    MapRowSerializer,
    MasterTargetSerializer,
    ModbusSettingsSerializer,
    SerialInterfaceSerializer,
)
from modbus.models import ClientCertificate, MasterTarget, SerialInterface
from modbus.views import map_rows, served_state
from portal import roles


class SettingsView(APIView):
    """Slave on/off, TLS, served plant, and the master's groups and timing; PUT changes the fields it names."""

    @extend_schema(responses=ModbusSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(ModbusSettingsSerializer(services.get_settings()).data)

    @extend_schema(request=ModbusSettingsSerializer, responses={200: ModbusSettingsSerializer, 400: dict})
    def put(self, request: Request) -> Response:
        serializer = ModbusSettingsSerializer(services.get_settings(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class MapView(generics.ListAPIView[Any]):
    """The register map as served right now (paged): address, registers, name, type, scale, value."""

    serializer_class = MapRowSerializer
    shows_only_readable_plants = True  # access.permissions.ApiAccess

    def get_queryset(self) -> Any:
        """Empty for a caller without a role on the served plant: its values are that plant's."""
        plant, state = served_state()
        if plant is not None and not roles.may_read(self.request.user, plant):
            return []
        return map_rows(plant, state)


class SerialListView(generics.ListAPIView[SerialInterface]):
    serializer_class = SerialInterfaceSerializer

    def get_queryset(self) -> Any:
        return services.serial_interfaces()


class SerialDetailView(APIView):
    def _interface(self, name: str) -> SerialInterface:
        services.serial_interfaces()
        return get_object_or_404(SerialInterface, name=name.upper())

    @extend_schema(responses=SerialInterfaceSerializer)
    def get(self, request: Request, name: str) -> Response:
        return Response(SerialInterfaceSerializer(self._interface(name)).data)

    @extend_schema(request=SerialInterfaceSerializer, responses={200: SerialInterfaceSerializer, 400: dict})
    def put(self, request: Request, name: str) -> Response:
        serializer = SerialInterfaceSerializer(self._interface(name), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    patch = put


class TargetListView(generics.ListAPIView[MasterTarget]):
    serializer_class = MasterTargetSerializer
    queryset = MasterTarget.objects.order_by("pk")

    @extend_schema(request=MasterTargetSerializer, responses={201: MasterTargetSerializer, 400: dict})
    def post(self, request: Request) -> Response:
        serializer = MasterTargetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class TargetDetailView(APIView):
    @extend_schema(responses=MasterTargetSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(MasterTargetSerializer(get_object_or_404(MasterTarget, pk=pk)).data)

    @extend_schema(request=MasterTargetSerializer, responses={200: MasterTargetSerializer, 400: dict})
    def put(self, request: Request, pk: int) -> Response:
        serializer = MasterTargetSerializer(get_object_or_404(MasterTarget, pk=pk), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    patch = put

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(MasterTarget, pk=pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class CertificateListView(generics.ListAPIView[ClientCertificate]):
    serializer_class = ClientCertificateSerializer
    queryset = ClientCertificate.objects.order_by("pk")


class CertificateDetailView(APIView):
    @extend_schema(responses=ClientCertificateSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ClientCertificateSerializer(get_object_or_404(ClientCertificate, pk=pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Forget the certificate; its open connections are closed within a second."""
        services.delete_certificate(get_object_or_404(ClientCertificate, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CertificateAcceptView(APIView):
    @extend_schema(request=None, responses=ClientCertificateSerializer)
    def post(self, request: Request, pk: int) -> Response:
        certificate = get_object_or_404(ClientCertificate, pk=pk)
        services.accept_certificate(certificate)
        return Response(ClientCertificateSerializer(certificate).data)


class ConfigView(APIView):
    """GET: the whole Modbus configuration as a file; POST: import one (a bad file changes nothing)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    body_limit = MODBUS_CONFIG

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        response = Response(services.export_config())
        response["Content-Disposition"] = 'attachment; filename="modbus-config.json"'
        return response

    @extend_schema(request=dict, responses={200: dict, 400: dict})
    def post(self, request: Request) -> Response:
        upload: Any = request.FILES.get("file")
        raw = upload.read() if upload is not None else json.dumps(request.data).encode()
        try:
            services.import_config(raw)
        except services.ConfigFileError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(services.export_config())
