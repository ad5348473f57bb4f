"""Access tokens as the API shows and accepts them; the rules are ``access.services``'."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from access import services
from access.models import AccessToken


class AccessTokenSerializer(serializers.ModelSerializer[AccessToken]):
    state = serializers.CharField(read_only=True, help_text="active, pending (not authorised), expired or revoked")

    class Meta:
        model = AccessToken
        fields = [
            "id", "name", "role", "expires_on", "created_at", "authorised", "authorised_at", "revoked_at",
            "last_used_at", "state",
        ]  # fmt: skip
        read_only_fields = fields


class NewAccessTokenSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=services.NAME_MAX_LENGTH)
    role = serializers.ChoiceField(choices=AccessToken.Role.choices)
    expires_on = serializers.DateField(help_text="The last day (UTC) the token works, YYYY-MM-DD.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["name"] = services.clean_name(attrs["name"])
            services.clean_expiry(attrs["expires_on"])
        except services.TokenError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        return attrs


class CreatedAccessTokenSerializer(AccessTokenSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown in this answer only; store it now.")

    class Meta(AccessTokenSerializer.Meta):
        fields = [*AccessTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields
