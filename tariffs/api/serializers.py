"""What the tariff API accepts and answers; the rules are the pure pricing's and ``tariffs.services``'."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from tariffs import pricing
from tariffs.models import CURRENCIES, PriceSource, TariffVersion

MAX_PRICE = 1000


class CostQuerySerializer(serializers.Serializer[dict[str, Any]]):
    period = serializers.ChoiceField(choices=pricing.PERIODS, default="day")
    date = serializers.DateField(required=False, help_text="Any day of the period, YYYY-MM-DD; today if left out.")
    direction = serializers.ChoiceField(choices=pricing.DIRECTIONS, default="purchase")
    hour = serializers.IntegerField(
        required=False, min_value=0, max_value=24, help_text="Hour view: the n-th hour of the local day (0-24)."
    )


class WorkingPriceSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=40, allow_blank=True, default="")
    price = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=-MAX_PRICE, max_value=MAX_PRICE)


class TariffVersionSerializer(serializers.ModelSerializer[TariffVersion]):
    valid_from = serializers.DateTimeField(required=False, help_text="When the prices take effect; now if left out.")
    basic_charge = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False)
    prices = WorkingPriceSerializer(many=True, allow_empty=False)
    grid = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=24, max_length=24),
        min_length=7,
        max_length=7,
        help_text="Seven days (Monday first) of 24 hours, each the index of a working price.",
    )

    class Meta:
        model = TariffVersion
        fields = ["id", "direction", "valid_from", "basic_charge", "prices", "grid", "created_at"]
        read_only_fields = ["id", "direction", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        count = len(attrs["prices"])
        if any(index >= count for day in attrs["grid"] for index in day):
            raise serializers.ValidationError({"grid": [f"every hour must name one of the {count} working prices"]})
        attrs.setdefault("valid_from", timezone.now())
        return attrs


class ContractSerializer(serializers.Serializer[dict[str, Any]]):
    currency = serializers.ChoiceField(choices=CURRENCIES)
    time_zone = serializers.CharField(max_length=64, help_text="The device time zone, e.g. Europe/Berlin.")

    def validate_time_zone(self, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(f"{value} is not a known time zone (e.g. Europe/Berlin).")
        return value


class PriceSourceSerializer(serializers.ModelSerializer[PriceSource]):
    class Meta:
        model = PriceSource
        fields = ["url", "enabled", "last_fetched_at", "last_error"]
        read_only_fields = ["last_fetched_at", "last_error"]
