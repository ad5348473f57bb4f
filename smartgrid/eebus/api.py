"""The connections of a plant over the JSON API (SG-4), installers only, reading included:
``GET /api/plants/<id>/eebus`` (own SHIP ID, SKI, port, the peers with their status),
``POST .../eebus/peers/<ski>/couple|decouple|disconnect`` and ``POST .../eebus/connections``
(host, port, SKI). An SKI is 40 hex digits after stripping spaces, dashes and colons; anything
else is refused with a message naming the problem and changes nothing."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import AccessToken
from access.permissions import API_TOKEN_READ_ONLY
from portal.roles import SETTINGS, may_change
from smartgrid.eebus import overview, store
from smartgrid.eebus.ski import SkiError, normalise_ski

INSTALLERS_ONLY = "only an installer of this plant manages its EEBus connections"


def _plant(plant_id: int) -> Any:
    plant = apps.get_model("plant", "Plant").objects.filter(pk=plant_id).first()
    if plant is None:
        raise Http404("no such plant")
    return plant


class PlantInstallerOnly(BasePermission):
    """An installer of the plant in the path (session or admin token); an api token may only read."""

    message = INSTALLERS_ONLY

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        token = request.auth if isinstance(request.auth, AccessToken) else None
        if token is not None and token.role == AccessToken.Role.API:
            self.message = API_TOKEN_READ_ONLY if request.method not in ("GET", "HEAD", "OPTIONS") else INSTALLERS_ONLY
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                return False
        plant = apps.get_model("plant", "Plant").objects.filter(pk=view.kwargs.get("plant_id")).first()
        if plant is None:
            return True  # the view answers 404
        self.message = INSTALLERS_ONLY
        return may_change(user, plant, SETTINGS)


class PeerSerializer(serializers.Serializer[dict[str, Any]]):
    ski = serializers.CharField()
    ship_id = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)
    brand = serializers.CharField()
    model = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    trusted = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["not_coupled", "coupled", "connected", "not_connected"])
    connected_since = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class ConnectionsSerializer(serializers.Serializer[dict[str, Any]]):
    ship_id = serializers.CharField()
    ski = serializers.CharField()
    port = serializers.IntegerField()
    peers = PeerSerializer(many=True)


class NewConnectionSerializer(serializers.Serializer[dict[str, Any]]):
    host = serializers.CharField(max_length=255)
    port = serializers.IntegerField(min_value=1, max_value=65535, default=4712)
    ski = serializers.CharField(max_length=120, help_text="40 hex digits; spaces, dashes and colons are ignored")

    def validate_ski(self, value: str) -> str:
        try:
            return normalise_ski(value)
        except SkiError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_host(self, value: str) -> str:
        try:
            return store.validate_host(value)
        except store.PeerError as exc:
            raise serializers.ValidationError(str(exc)) from None


def _payload(plant: Any) -> dict[str, Any]:
    own = overview.own_identity(plant)
    return {"ship_id": own.ship_id, "ski": own.ski, "port": own.port, "peers": overview.peer_rows(plant)}


class ConnectionsView(APIView):
    """The plant's own SHIP ID, SKI and port, and its EEBus peers with their status."""

    permission_classes = [PlantInstallerOnly]

    @extend_schema(responses=ConnectionsSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        return Response(ConnectionsSerializer(_payload(_plant(plant_id))).data)


ACTIONS = {"couple": store.couple, "decouple": store.decouple, "disconnect": store.disconnect}


class PeerActionView(APIView):
    """couple (trust the SKI), decouple (remove the trust, drop the connection) or disconnect."""

    permission_classes = [PlantInstallerOnly]

    @extend_schema(request=None, responses={200: PeerSerializer, 400: dict, 404: dict})
    def post(self, request: Request, plant_id: int, ski: str, action: str) -> Response:
        plant = _plant(plant_id)
        if action not in ACTIONS:
            raise Http404(f"unknown action {action!r}: use couple, decouple or disconnect")
        try:
            peer = ACTIONS[action](plant.pk, ski)
        except SkiError as exc:
            return Response({"ski": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except store.PeerError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(PeerSerializer(overview.peer_row(peer)).data)


class NewConnectionView(APIView):
    """A new connection by host, port and SKI: the device is coupled and the service dials it."""

    permission_classes = [PlantInstallerOnly]

    @extend_schema(request=NewConnectionSerializer, responses={201: PeerSerializer, 400: dict})
    def post(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        serializer = NewConnectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        peer = store.connect(plant.pk, data["host"], data["port"], data["ski"])
        return Response(PeerSerializer(overview.peer_row(peer)).data, status=status.HTTP_201_CREATED)
