"""The event log and the e-mail settings over the JSON API.

``GET /api/v1/events`` (``?kind=&plant=&severity=&from=&to=&limit=&offset=``): the events the
caller may read, newest first; ``GET``/``PUT /api/v1/events/mail`` (installers change them; the
password is write-only); ``POST /api/v1/events/mail/test`` sends a test mail with the stored
settings changed by any fields in the body (nothing saved) and answers the server's reply.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events import mail, services, validation
from events.models import KINDS, SEVERITIES, Event, MailSettings
from portal import roles


class EventSerializer(serializers.ModelSerializer[Event]):
    plant = serializers.IntegerField(source="plant_id", allow_null=True, read_only=True)
    plant_name = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "time", "plant", "plant_name", "kind", "severity", "source", "message", "mail_state"]
        read_only_fields = fields

    def get_plant_name(self, event: Event) -> str | None:
        return event.plant.name if event.plant else None


FILTER_PARAMETERS = [
    OpenApiParameter("kind", str, enum=list(KINDS), description="one event class"),
    OpenApiParameter("plant", int, description="one plant's id (a plant you have a role on)"),
    OpenApiParameter("severity", str, enum=list(SEVERITIES), description="the least severity shown"),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="from this date or time on (ISO 8601)"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="up to this date (the whole day) or time"),
]


class EventListView(generics.ListAPIView[Event]):
    """The events of the plants the caller has a role on (and the device's own with a role on every plant)."""

    serializer_class = EventSerializer
    shows_only_readable_plants = True

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = services.parse_filters(self.request.query_params)
        if filters.plant_id is not None:
            roles.check_read(self.request.user, filters.plant_id)
        return services.filtered(services.visible_to(self.request.user), filters)


def _as_api_error(exc: ValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.messages)


class MailSettingsSerializer(serializers.ModelSerializer[MailSettings]):
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=256,
        help_text='Stored encrypted, never returned; "" removes it.',
    )
    password_set = serializers.SerializerMethodField()
    kinds = serializers.ListField(child=serializers.ChoiceField(choices=list(KINDS)), required=False, max_length=20)

    class Meta:
        model = MailSettings
        fields = ["enabled", "host", "port", "tls", "username", "password", "password_set", "sender", "recipients",
                  "kinds", "max_per_hour"]  # fmt: skip

    def get_password_set(self, row: MailSettings) -> bool:
        return bool(row.password_encrypted)

    def validate_host(self, value: str) -> str:
        try:
            return validation.check_host(value)
        except ValidationError as exc:
            raise _as_api_error(exc) from None

    def validate_recipients(self, value: str) -> str:
        try:
            return validation.check_addresses(value)
        except ValidationError as exc:
            raise _as_api_error(exc) from None

    def validate_kinds(self, value: list[str]) -> list[str]:
        try:
            return validation.check_kinds(value)
        except ValidationError as exc:
            raise _as_api_error(exc) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        row = self.instance
        assert isinstance(row, MailSettings)

        def value(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(row, name)

        problems = validation.check_complete(
            bool(value("enabled")), value("host"), value("sender"), value("recipients")
        )
        if problems:
            raise serializers.ValidationError(problems)
        return attrs

    def apply(self) -> MailSettings:
        """The row with the validated changes, not saved."""
        row = self.instance
        assert isinstance(row, MailSettings)
        data = dict(self.validated_data)
        password = data.pop("password", None)
        for name, item in data.items():
            setattr(row, name, item)
        services.set_password(row, password)
        return row


class MailSettingsView(APIView):
    """The SMTP server, encryption, login, sender, recipients and the event classes that send mail."""

    @extend_schema(responses=MailSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(MailSettingsSerializer(services.settings_row()).data)

    @extend_schema(request=MailSettingsSerializer, responses={200: MailSettingsSerializer, 400: dict})
    def put(self, request: Request) -> Response:
        serializer = MailSettingsSerializer(services.settings_row(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        row = serializer.apply()
        row.save()
        return Response(MailSettingsSerializer(row).data)

    patch = put


class MailTestView(APIView):
    """Send a test mail: the stored settings, changed by any fields in the body (nothing saved)."""

    @extend_schema(request=MailSettingsSerializer, responses={200: dict, 400: dict})
    def post(self, request: Request) -> Response:
        row = services.settings_row()
        stored = mail.Server.of(row).password
        serializer = MailSettingsSerializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        password = serializer.validated_data.get("password")
        candidate = serializer.apply()
        missing = services.test_needs(candidate)
        if missing:
            raise serializers.ValidationError({"detail": missing})
        ok, message = services.send_test(candidate, stored if password is None else password)
        return Response({"ok": ok, "message": message})
