"""The forecast over the JSON API (issue 19 part 1, docs/forecast.md).

``GET plants/<id>/forecast``: the latest forecast, 36 hours of 15-minute slots (start, pv_w,
load_w) and what it was computed from; any role on the plant may read it. ``GET``/``PUT``
``plants/<id>/forecast/location``: the location and PV orientation (installers change it).
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from forecast import services
from portal.roles import SETTINGS


def _plant(plant_id: int) -> Any:
    return get_object_or_404(services.plant_model(), pk=plant_id)


class ForecastView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int) -> Response:
        return Response(services.body(services.latest_row(_plant(plant_id))))


class LocationSerializer(serializers.Serializer[dict[str, Any]]):
    latitude_deg = serializers.FloatField(min_value=-90.0, max_value=90.0, allow_null=True)
    longitude_deg = serializers.FloatField(min_value=-180.0, max_value=180.0, allow_null=True)
    pv_tilt_deg = serializers.FloatField(min_value=0.0, max_value=90.0, allow_null=True, required=False)
    pv_azimuth_deg = serializers.FloatField(min_value=0.0, max_value=360.0, allow_null=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("latitude_deg") is None) != (attrs.get("longitude_deg") is None):
            raise serializers.ValidationError("give latitude and longitude together, or neither")
        return attrs


def _location(plant: Any) -> dict[str, Any]:
    return {name: getattr(plant, name) for name in services.LOCATION_FIELDS}


class LocationView(APIView):
    change_area = SETTINGS

    @extend_schema(responses=LocationSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        return Response(_location(_plant(plant_id)))

    @extend_schema(request=LocationSerializer, responses={200: LocationSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        serializer = LocationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.save_location(plant, **serializer.validated_data)
        return Response(_location(plant))
