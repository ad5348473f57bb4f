from __future__ import annotations

import datetime as dt

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meter.services import power_history
from plant import live
from plant.health import check_health
from plant.models import Plant


class HealthView(APIView):
    """Status of database, Redis, beat, the last cycle and meter sample; 503 when any is down or stale."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        healthy, report = check_health()
        return Response(report, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class PlantSerializer(serializers.ModelSerializer[Plant]):
    class Meta:
        model = Plant
        fields = ["id", "name", "time_zone", "installation_position", "is_active", "commissioned_at"]


class PlantListView(APIView):
    @extend_schema(responses=PlantSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PlantSerializer(Plant.objects.order_by("pk"), many=True).data)


class PlantStateView(APIView):
    """The latest snapshot of a plant, as the live dashboard receives it."""

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        state = live.read_state(plant.pk)
        if state is None:
            return Response({"detail": "no measurement yet"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(state)


class HistoryQuerySerializer(serializers.Serializer[dict[str, int]]):
    hours = serializers.IntegerField(min_value=1, max_value=14 * 24, default=24)


class PlantHistoryView(APIView):
    """5-minute averages of the last ``hours`` hours (at most 14 days, MET-5)."""

    @extend_schema(parameters=[HistoryQuerySerializer], responses={200: dict})
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = timezone.now() - dt.timedelta(hours=query.validated_data["hours"])
        return Response({"plant": plant.pk, "interval_s": 300, "points": power_history(plant.pk, since)})
