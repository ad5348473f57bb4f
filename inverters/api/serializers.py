"""Inverters and power settings as the API shows and accepts them; the rules are ``inverters.services``'."""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings

from access.rest import LocalTimeField
from inverters import detection, services
from inverters.models import Battery, Inverter, PowerSettings


def api_error(error: DjangoValidationError) -> serializers.ValidationError:
    """A Django ValidationError as DRF's, ``__all__`` becoming ``non_field_errors``."""
    if hasattr(error, "error_dict"):
        detail = {
            api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: messages
            for field, messages in error.message_dict.items()
        }
        return serializers.ValidationError(detail)
    return serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: error.messages})


class BatterySerializer(serializers.ModelSerializer[Battery]):
    class Meta:
        model = Battery
        fields = ["type", "modules", "capacity_wh", "max_charge_w", "max_discharge_w"]


class InverterSerializer(serializers.ModelSerializer[Inverter]):
    """``context``: ``plant`` (for a new inverter) and ``state`` (the latest snapshot, for ``status``)."""

    max_ac_w = serializers.FloatField(
        required=False, min_value=1.0, help_text="Filled in from the type/power class when left out."
    )
    type_label = serializers.CharField(source="get_type_display", read_only=True)
    controllable = serializers.BooleanField(read_only=True)
    info = serializers.SerializerMethodField()
    battery = BatterySerializer(read_only=True)
    status = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Inverter
        fields = [
            "id", "name", "type", "type_label", "power_class", "max_ac_w", "category", "connection", "controllable",
            "host", "port", "unit_id", "interface", "address", "timeout_s", "with_battery", "position",
            "info", "battery", "status", "error",
        ]  # fmt: skip
        read_only_fields = ["category", "connection"]
        extra_kwargs = {"position": {"required": False}}

    def get_info(self, inverter: Inverter) -> dict[str, Any]:
        return detection.info_of(inverter)

    def _status(self, inverter: Inverter) -> dict[str, str]:
        return services.live_status(self.context.get("state"), inverter.name)

    def get_status(self, inverter: Inverter) -> str:
        return self._status(inverter)["status"]

    def get_error(self, inverter: Inverter) -> str:
        return self._status(inverter)["error"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = copy.copy(self.instance) if self.instance is not None else Inverter(plant=self.context["plant"])
        for name, value in attrs.items():
            setattr(candidate, name, value)
        if candidate.interface is None:
            candidate.interface = ""
        class_changed = "power_class" in attrs and (
            self.instance is None or attrs["power_class"] != self.instance.power_class
        )
        if "max_ac_w" not in attrs and (self.instance is None or class_changed):
            classes = services.power_classes(candidate.type)
            if candidate.power_class in classes:
                candidate.max_ac_w = classes[candidate.power_class]
            elif self.instance is None:
                raise serializers.ValidationError(
                    {"max_ac_w": ["Give max_ac_w or a power_class of the type to take it from."]}
                )
        try:
            services.check_inverter(candidate)
            detection.detect_and_store(candidate)
        except DjangoValidationError as error:
            raise api_error(error) from error
        self.candidate = candidate
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Inverter:
        inverter = self.candidate
        if "position" not in validated_data:
            inverter.position = services.next_position(inverter.plant)
        inverter.save()
        return inverter

    def update(self, instance: Inverter, validated_data: dict[str, Any]) -> Inverter:
        self.candidate.save()
        return self.candidate


class PowerSettingsSerializer(serializers.ModelSerializer[PowerSettings]):
    """``context``: ``plant``."""

    generator_power_w = serializers.SerializerMethodField()
    limit_w = serializers.SerializerMethodField()
    full_by = LocalTimeField(required=False, help_text="Local time, HH:MM (08:00-22:00).")

    class Meta:
        model = PowerSettings
        fields = [
            "feed_in_limit_enabled", "limit_mode", "limit_value", "algorithm", "battery_management_enabled",
            "battery_management_unlocked", "min_soc_pct", "max_soc_pct", "grid_optimised", "full_by",
            "generator_power_w", "limit_w",
        ]  # fmt: skip
        read_only_fields = ["battery_management_unlocked"]

    def _generator_w(self, power: PowerSettings) -> float:
        return services.generator_power_w(Inverter.objects.filter(plant=power.plant))

    def get_generator_power_w(self, power: PowerSettings) -> float:
        return self._generator_w(power)

    def get_limit_w(self, power: PowerSettings) -> float:
        return power.limit_w(self._generator_w(power))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = (
            copy.copy(self.instance) if self.instance is not None else PowerSettings(plant=self.context["plant"])
        )
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            services.check_power_settings(candidate)
        except DjangoValidationError as error:
            raise api_error(error) from error
        self.candidate = candidate
        return attrs

    def create(self, validated_data: dict[str, Any]) -> PowerSettings:
        self.candidate.save()
        return self.candidate

    def update(self, instance: PowerSettings, validated_data: dict[str, Any]) -> PowerSettings:
        self.candidate.save()
        return self.candidate
