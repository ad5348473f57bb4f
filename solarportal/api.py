"""The uplink over the JSON API: ``GET``/``PUT /api/v1/plants/<id>/solarportal``.

``GET`` (any role on the plant): the settings and the status (last request and response, machine
id, serial and article number, the outbox, clock warnings). ``PUT``/``PATCH`` (installers): the
switch, the endpoint and the credential, validated like the page; the credential is never returned.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.roles import SETTINGS
from solarportal import services
from solarportal.forms import CREDENTIAL_MAX, check_credential


class UplinkSerializer(serializers.Serializer[Any]):
    enabled = serializers.BooleanField(required=False)
    endpoint_url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    credential = serializers.CharField(
        required=False,
        write_only=True,
        allow_blank=False,
        trim_whitespace=False,
        max_length=CREDENTIAL_MAX,
        help_text="Issued by the portal; stored encrypted, never returned.",
    )

    def validate_endpoint_url(self, value: str) -> str:
        try:
            return services.check_endpoint(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_credential(self, value: str) -> str:
        try:
            return check_credential(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


def _body(plant: Any) -> dict[str, Any]:
    data = services.status(plant)
    for name in ("last_request", "last_response", "next_attempt"):
        data[name] = data[name].isoformat() if data[name] else None
    return data


class UplinkView(APIView):
    change_area = SETTINGS

    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(apps.get_model("plant", "Plant"), pk=plant_id)
        return Response(_body(plant))

    @extend_schema(request=UplinkSerializer, responses={200: dict, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(apps.get_model("plant", "Plant"), pk=plant_id)
        row = services.uplink_of(plant)
        serializer = UplinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        enabled = data.get("enabled", row.enabled)
        endpoint = data.get("endpoint_url", row.endpoint_url)
        new_credential = data.get("credential")
        if enabled:
            problem = services.missing_for_on(endpoint, bool(new_credential or row.credential_encrypted))
            if problem:
                raise serializers.ValidationError({"enabled": [problem]})
        services.save_settings(plant, enabled=enabled, endpoint_url=endpoint, credential=new_credential)
        return Response(_body(plant))

    patch = put
