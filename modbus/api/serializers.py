"""Serializers of the Modbus API (MB-1..MB-5)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from modbus import services
from modbus.models import MAX_TARGETS, ClientCertificate, MasterTarget, ModbusSettings, SerialInterface


class ModbusSettingsSerializer(serializers.ModelSerializer[ModbusSettings]):
    class Meta:
        model = ModbusSettings
        exclude = ["id", "updated_at"]


class SerialInterfaceSerializer(serializers.ModelSerializer[SerialInterface]):
    default_device = serializers.SerializerMethodField()

    class Meta:
        model = SerialInterface
        fields = [
            "name", "enabled", "device", "default_device", "preset", "mode", "address",
            "baudrate", "bytesize", "parity", "stopbits", "held_by",
        ]  # fmt: skip
        read_only_fields = ["name", "held_by"]

    def get_default_device(self, interface: SerialInterface) -> str:
        return services.default_device(interface.name)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        assert self.instance is not None
        if attrs.get("enabled") and self.instance.held_by:
            raise serializers.ValidationError(
                {"enabled": f"RS485 {self.instance.name} is used by {self.instance.held_by}."}
            )
        return attrs

    def update(self, instance: SerialInterface, validated_data: dict[str, Any]) -> SerialInterface:
        preset_before = instance.preset
        for field, value in validated_data.items():
            setattr(instance, field, value)
        if "preset" in validated_data and instance.preset != preset_before:
            services.apply_preset(instance)
        else:
            services.match_preset(instance)
        instance.save()
        return instance


class MasterTargetSerializer(serializers.ModelSerializer[MasterTarget]):
    last_success = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()
    last_error_at = serializers.SerializerMethodField()

    class Meta:
        model = MasterTarget
        fields = ["id", "host", "port", "unit_id", "enabled", "last_success", "last_error", "last_error_at"]

    def _status(self, target: MasterTarget) -> dict[str, Any]:
        statuses = self.context.get("statuses")
        if statuses is None:
            statuses = self.context["statuses"] = services.read_target_statuses()
        return services.target_status(statuses, target.pk)

    def get_last_success(self, target: MasterTarget) -> str | None:
        value = self._status(target)["last_success"]
        return value.isoformat() if value else None

    def get_last_error(self, target: MasterTarget) -> str:
        return str(self._status(target)["last_error"])

    def get_last_error_at(self, target: MasterTarget) -> str | None:
        value = self._status(target)["last_error_at"]
        return value.isoformat() if value else None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and MasterTarget.objects.count() >= MAX_TARGETS:
            raise serializers.ValidationError(f"At most {MAX_TARGETS} targets are possible.")
        return attrs


class ClientCertificateSerializer(serializers.ModelSerializer[ClientCertificate]):
    class Meta:
        model = ClientCertificate
        fields = ["id", "fingerprint", "subject", "status", "first_seen", "accepted_at"]
        read_only_fields = fields


class MapRowSerializer(serializers.Serializer[Any]):
    address = serializers.IntegerField()
    count = serializers.IntegerField()
    name = serializers.CharField()
    dtype = serializers.CharField()
    scale = serializers.CharField()
    unit = serializers.CharField()
    value = serializers.CharField()
    group = serializers.CharField()
