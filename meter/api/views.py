"""The meter's current-transformer ratio over the API (MET-2, ACC-3)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meter import ct, services


class CtSerializer(serializers.Serializer[Any]):
    primary_a = serializers.IntegerField(
        allow_null=True,
        help_text="Primary current in A (1-5000) on the 5 A secondary; null: no transformer, measured directly.",
    )
    secondary_a = serializers.IntegerField(required=False, default=ct.SECONDARY_A, help_text="Always 5 (x/5 A CTs).")
    factor = serializers.FloatField(read_only=True, help_text="What currents, powers and energies are multiplied by.")
    common = serializers.BooleanField(
        read_only=True, allow_null=True, help_text="Whether the ratio is one of the list."
    )
    common_primaries_a = serializers.ListField(child=serializers.IntegerField(), read_only=True)


def _meter(plant_id: int) -> Any:
    plant = get_object_or_404(apps.get_model("plant", "Plant"), pk=plant_id)
    meter = getattr(plant, "meter", None)
    if meter is None:
        raise Http404("this plant has no meter")
    return meter


class CurrentTransformerView(APIView):
    """``GET|PUT /api/plants/{id}/meter/ct``: installers change it (the smart-meter page's setting)."""

    @extend_schema(responses=CtSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        return Response(services.ct_setting(_meter(plant_id)))

    @extend_schema(request=CtSerializer, responses={200: CtSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        meter = _meter(plant_id)
        data = request.data if isinstance(request.data, dict) else {}
        if "primary_a" not in data:
            raise serializers.ValidationError({"primary_a": ["This field is required (null for no transformer)."]})
        try:
            primary = ct.checked_primary(data["primary_a"], data.get("secondary_a", ct.SECONDARY_A))
        except ct.CtError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        services.save_ct_primary(meter, primary)
        return Response(services.ct_setting(meter))
