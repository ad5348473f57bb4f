"""The MQTT settings over the JSON API: ``GET``/``PUT /api/mqtt`` (installers change them),
``POST /api/mqtt/test`` (connect once with the stored settings, or with those in the body)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import services
from integrations.config import valid_host
from integrations.forms import check_ca
from integrations.models import MqttSettings


class MqttSettingsSerializer(serializers.ModelSerializer[MqttSettings]):
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=256,
        help_text='Stored encrypted, never returned; "" removes it.',
    )
    password_set = serializers.SerializerMethodField()
    command_user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Commands over MQTT act with this user's roles; null refuses every command.",
    )
    status = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()  # type: ignore[assignment]

    class Meta:
        model = MqttSettings
        fields = ["enabled", "host", "port", "tls", "ca_certificate", "username", "password", "password_set",
                  "prefix", "discovery", "min_interval_s", "command_user", "source", "status"]  # fmt: skip

    def get_password_set(self, row: MqttSettings) -> bool:
        return bool(row.password_encrypted)

    def get_status(self, row: MqttSettings) -> dict[str, Any]:
        return services.read_status()

    def get_source(self, row: MqttSettings) -> str:
        return services.broker_config().source

    def validate_ca_certificate(self, value: str) -> str:
        from django.core.exceptions import ValidationError

        try:
            return check_ca(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_host(self, value: str) -> str:
        value = value.strip()
        if not value or not valid_host(value):
            raise serializers.ValidationError("a host name or IP address, without scheme or port")
        return value

    def apply(self) -> MqttSettings:
        """The row with the validated changes, not saved."""
        row = self.instance
        assert isinstance(row, MqttSettings)
        data = dict(self.validated_data)
        password = data.pop("password", None)
        for name, value in data.items():
            setattr(row, name, value)
        services.set_password(row, password)
        return row


class MqttSettingsView(APIView):
    """The broker, TLS, user, prefix, discovery and command user of ``serve_mqtt``, with its status."""

    @extend_schema(responses=MqttSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(MqttSettingsSerializer(services.settings_row()).data)

    @extend_schema(request=MqttSettingsSerializer, responses={200: MqttSettingsSerializer, 400: dict})
    def put(self, request: Request) -> Response:
        serializer = MqttSettingsSerializer(services.settings_row(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = serializer.apply()
        row.save()
        return Response(MqttSettingsSerializer(row).data)

    patch = put


class MqttTestView(APIView):
    """Connect once: with the stored settings, changed by any fields in the body (nothing is saved)."""

    @extend_schema(request=MqttSettingsSerializer, responses={200: dict, 400: dict})
    def post(self, request: Request) -> Response:
        row = services.settings_row()
        stored_password = services.from_row(row).password
        serializer = MqttSettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        password = serializer.validated_data.get("password")
        candidate = services.from_row(serializer.apply())
        candidate = replace(candidate, password=stored_password if password is None else password)
        ok, message = services.test_connection(candidate)
        return Response({"ok": ok, "message": message, "broker": candidate.describe()})
