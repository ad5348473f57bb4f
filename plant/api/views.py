from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.rest import errors
from energy import snapshot
from meter.services import ENERGY_FIELDS, LOG_FIELDS, energy_records, meter_log
from plant import live
from plant.api.renderers import CsvRenderer
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


class PlantListView(generics.ListAPIView[Plant]):
    """The plants, paged (``limit``, ``offset``)."""

    serializer_class = PlantSerializer
    queryset = Plant.objects.order_by("pk")


class PlantStateView(APIView):
    """The latest snapshot of a plant, as the live dashboard receives it."""

    @extend_schema(responses={200: dict, **errors(404, 503)})
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        state = live.read_state(plant.pk)
        if state is None:
            return Response({"detail": "no measurement yet"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(snapshot.to_data(state))


class HistoryQuerySerializer(serializers.Serializer[dict[str, int]]):
    hours = serializers.IntegerField(min_value=1, max_value=settings.METER_LOG_RETENTION_DAYS * 24, default=24)


class EnergyQuerySerializer(serializers.Serializer[dict[str, int]]):
    days = serializers.IntegerField(min_value=1, max_value=2 * 366, default=7)


class LogTableView(APIView):
    """A plant's log over a validated time window, as JSON or (``?format=csv``) as a CSV file."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]
    query_serializer: type[serializers.Serializer[dict[str, int]]]
    csv_rows_key: str
    csv_columns: tuple[str, ...]
    file_kind: str

    def window(self, query: dict[str, int]) -> dt.timedelta:
        raise NotImplementedError

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        raise NotImplementedError

    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        self.csv_filename = f"{slugify(plant.name) or plant.pk}-{self.file_kind}-{now:%Y%m%d-%H%M}.csv"
        rows = self.rows(plant.pk, now - self.window(query.validated_data))
        return Response({"plant": plant.pk, "interval_s": 300, self.csv_rows_key: rows})


class PlantHistoryView(LogTableView):
    """5-minute averages of the last ``hours`` hours (at most 14 days, MET-5); ``?format=csv`` for a file."""

    query_serializer = HistoryQuerySerializer
    csv_rows_key = "points"
    csv_columns = LOG_FIELDS
    file_kind = "5min"

    def window(self, query: dict[str, int]) -> dt.timedelta:
        return dt.timedelta(hours=query["hours"])

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        return meter_log(plant_id, since)

    @extend_schema(parameters=[HistoryQuerySerializer], responses={200: dict, **errors(400, 404)})
    def get(self, request: Request, plant_id: int) -> Response:
        return super().get(request, plant_id)


class PlantEnergyView(LogTableView):
    """The plant's energy totals every 5 minutes over the last ``days`` days (kept 2 years); ``?format=csv``."""

    query_serializer = EnergyQuerySerializer
    csv_rows_key = "records"
    csv_columns = ENERGY_FIELDS
    file_kind = "energy"

    def window(self, query: dict[str, int]) -> dt.timedelta:
        return dt.timedelta(days=query["days"])

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        return energy_records(plant_id, since)

    @extend_schema(parameters=[EnergyQuerySerializer], responses={200: dict, **errors(400, 404)})
    def get(self, request: Request, plant_id: int) -> Response:
        return super().get(request, plant_id)
