"""The grid operator's limits over the JSON API (SG-1..SG-3).

``GET plants/<id>/smartgrid``: the state of each direction, the limits in force, the failsafe
values and nominal maxima. ``PUT`` (installers: area settings) changes the settings, validated
like the page. ``GET plants/<id>/smartgrid/history?page=N``: the history, 10 per page, newest first.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from energy import gridlimit as g
from energy import gridlimit_history as gh
from pages.params import int_param
from portal.roles import SETTINGS
from smartgrid import services
from smartgrid.models import MAX_POWER_W, GridLimits


def _plant(plant_id: int) -> Any:
    return get_object_or_404(apps.get_model("plant", "Plant"), pk=plant_id)


class SettingsSerializer(serializers.ModelSerializer[GridLimits]):
    failsafe_consumption_w = serializers.FloatField(min_value=0.0, max_value=MAX_POWER_W)
    failsafe_production_w = serializers.FloatField(min_value=0.0, max_value=MAX_POWER_W)
    failsafe_duration_s = serializers.FloatField(
        min_value=g.FAILSAFE_DURATION_MIN_S, max_value=g.FAILSAFE_DURATION_MAX_S
    )
    consumption_nominal_max_w = serializers.FloatField(min_value=0.0, max_value=MAX_POWER_W)
    production_nominal_max_w = serializers.FloatField(min_value=0.0, max_value=MAX_POWER_W)

    class Meta:
        model = GridLimits
        fields = [
            "enabled",
            "failsafe_consumption_w",
            "failsafe_production_w",
            "failsafe_duration_s",
            "consumption_nominal_max_w",
            "production_nominal_max_w",
        ]


def _body(plant_id: int) -> dict[str, Any]:
    row = services.settings_of(plant_id)
    return {**services.status_data(services.status(plant_id)), "settings": SettingsSerializer(row).data}


class SmartGridView(APIView):
    change_area = SETTINGS

    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        return Response(_body(plant.pk))

    @extend_schema(request=SettingsSerializer, responses={200: dict, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        row = services.settings_of(plant.pk)
        serializer = SettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = {**SettingsSerializer(row).data, **serializer.validated_data}
        try:
            services.save_settings(plant.pk, **{name: values[name] for name in SettingsSerializer.Meta.fields})
        except g.Rejected as exc:
            raise serializers.ValidationError({"non_field_errors": [exc.reason]}) from None
        return Response(_body(plant.pk))

    patch = put


class HistoryView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        pages = gh.HISTORY_SIZE // services.HISTORY_PER_PAGE
        number = int_param(request.query_params, "page", low=1, high=pages, default=1) or 1
        page = services.history_page(plant.pk, number)
        return Response(
            {
                "count": page.count,
                "page": page.number,
                "pages": page.pages,
                "per_page": services.HISTORY_PER_PAGE,
                "results": [services.entry_data(e) for e in page.entries],
            }
        )
