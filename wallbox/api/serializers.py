"""Wallboxes, their charging settings, Time Mode, the mains connection, sessions and phase switches
as the API shows and accepts them; the rules are ``wallbox.rules``'."""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import TypeAdapter
from rest_framework import serializers
from rest_framework.settings import api_settings

from access.rest import LocalTimeField
from energy.config import HOURLY_MODES, WALLBOX_LIMITS, WEEKDAYS
from energy.state import WallboxState
from wallbox import rules, setup, snapshot
from wallbox.models import (
    BATTERY_USE_FIELDS,
    ChargingPlan,
    ChargingSession,
    MainsSettings,
    PhaseSwitchEvent,
    Wallbox,
)

_LIVE = TypeAdapter(WallboxState)


def api_error(error: DjangoValidationError) -> serializers.ValidationError:
    """A Django ValidationError as DRF's, ``__all__`` becoming ``non_field_errors``."""
    if hasattr(error, "error_dict"):
        return serializers.ValidationError(
            {
                api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: messages
                for name, messages in error.message_dict.items()
            }
        )
    return serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: error.messages})


class WallboxSerializer(serializers.ModelSerializer[Wallbox]):
    """A box with its info and live status. ``context``: ``plant`` (new box), ``state`` (snapshot).

    Creating one runs the setup on the line (address 50 -> 100, deferred while a vehicle is
    plugged in: then ``setup`` is ``pending``); the charging settings change at ``…/charging``.
    """

    type_label = serializers.CharField(source="get_type_display", read_only=True)
    bus_address = serializers.IntegerField(read_only=True, help_text="Where the box answers now (50 while pending).")
    info = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    live = serializers.SerializerMethodField()
    modbus_command = serializers.SerializerMethodField()

    class Meta:
        model = Wallbox
        fields = [
            "id", "name", "type", "type_label", "interface", "gateway_host", "gateway_port", "address", "bus_address",
            "setup", "setup_message", "rotation", "phase_usage", "min_current_a", "mode", *BATTERY_USE_FIELDS, "solar_plus_start",
            "solar_plus_min_share_pct", "manual_pause", "position", "info", "status", "error", "live",
            "modbus_command",
        ]  # fmt: skip
        read_only_fields = [
            "address", "setup", "setup_message", "mode", *BATTERY_USE_FIELDS, "solar_plus_start",
            "solar_plus_min_share_pct", "manual_pause",
        ]  # fmt: skip
        extra_kwargs = {"position": {"required": False}}

    def get_info(self, box: Wallbox) -> dict[str, Any]:
        return {
            "serial": box.serial_number,
            "hardware": box.hardware_version,
            "firmware": box.firmware_version,
            "read_at": box.info_read_at.isoformat() if box.info_read_at else None,
        }

    def get_status(self, box: Wallbox) -> str:
        return "pending" if box.is_pending else snapshot.live_status(self.context.get("state"), box.name)["status"]

    def get_error(self, box: Wallbox) -> str:
        return snapshot.live_status(self.context.get("state"), box.name)["error"]

    def get_modbus_command(self, box: Wallbox) -> dict[str, Any] | None:
        """The last command of a Modbus client (MB-2; it applies to every box of the plant):
        ``mode``, ``register_mode``, ``current_limit_a``, ``written_at``, ``age_s``, ``expires_at``,
        ``expires_in_s``, ``in_force``, ``timeout_s``; null if no client has written one."""
        return snapshot.modbus_command(self.context.get("state"))

    def get_live(self, box: Wallbox) -> dict[str, Any] | None:
        """The box as the last cycle saw it: state, power, phases, the reason and running timers."""
        live = snapshot.live_state(self.context.get("state"), box.name)
        return None if live is None else _LIVE.dump_python(live, mode="json")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "type" in attrs and attrs["type"] != self.instance.type:
            raise serializers.ValidationError(
                {"type": ["The type of a box cannot change; delete it and add it again."]}
            )
        candidate = copy.copy(self.instance) if self.instance is not None else Wallbox(plant=self.context["plant"])
        for name, value in attrs.items():
            setattr(candidate, name, value)
        if self.instance is None and candidate.type in WALLBOX_LIMITS and candidate.max_phases == 1:
            candidate.phase_usage = Wallbox.PhaseUsage.SINGLE
        try:
            rules.check_wallbox(candidate)
            if self.instance is None:
                self.setup_message = setup.set_up(candidate)
        except DjangoValidationError as error:
            raise api_error(error) from error
        self.candidate = candidate
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Wallbox:
        box = self.candidate
        if "position" not in validated_data:
            box.position = rules.next_position(box.plant)
        box.save()
        return box

    def update(self, instance: Wallbox, validated_data: dict[str, Any]) -> Wallbox:
        self.candidate.save()
        return self.candidate


class ChargingSerializer(serializers.ModelSerializer[Wallbox]):
    """Mode (WB-5), house battery use per mode (WB-7), Solar Plus start power and minimum solar share.

    ``battery_use`` (write only) is the one checkbox of older clients: it sets all three
    ``battery_use_*`` at once; a ``battery_use_*`` given beside it wins for its mode.
    """

    battery_use = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="Older clients: the same house battery setting for Power, Solar Pure and Solar Plus.",
    )

    class Meta:
        model = Wallbox
        fields = ["mode", *BATTERY_USE_FIELDS, "battery_use", "solar_plus_start", "solar_plus_min_share_pct",
                  "manual_pause"]  # fmt: skip
        read_only_fields = ["manual_pause"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "battery_use" in attrs:
            every = attrs.pop("battery_use")
            attrs = {**dict.fromkeys(BATTERY_USE_FIELDS, every), **attrs}
        return attrs


class TimeModeSerializer(serializers.Serializer[Any]):
    days = serializers.ListField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=HOURLY_MODES), min_length=24, max_length=24),
        min_length=len(WEEKDAYS),
        max_length=len(WEEKDAYS),
        help_text="7 weekdays (Monday first) of 24 hourly modes: lock, power, solar_pure, solar_plus.",
    )


class MainsSerializer(serializers.ModelSerializer[MainsSettings]):
    fuse_a = serializers.FloatField(source="smallest_fuse_a", read_only=True)

    class Meta:
        model = MainsSettings
        fields = ["phases", "fuse_l1_a", "fuse_l2_a", "fuse_l3_a", "unbalance_limit_va", "fuse_a"]


class SessionSerializer(serializers.ModelSerializer[ChargingSession]):
    duration_s = serializers.FloatField(read_only=True, allow_null=True)
    solar_share_pct = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ChargingSession
        fields = ["id", "wallbox_name", "started", "ended", "duration_s", "charging_s", "energy_wh", "solar_wh",
                  "solar_share_pct"]  # fmt: skip


class PhaseSwitchSerializer(serializers.ModelSerializer[PhaseSwitchEvent]):
    phase_usage = serializers.CharField(source="usage_text", read_only=True)

    class Meta:
        model = PhaseSwitchEvent
        fields = ["time", "vehicle", "wallbox_name", "phases", "phase_usage"]


class ChargingPlanSerializer(serializers.ModelSerializer[ChargingPlan]):
    """A box's charging plan (issue 19.3); checked by the model's rules (``ChargingPlan.clean``)."""

    departure_time = LocalTimeField(required=False, allow_null=True, help_text="Weekly plans: local time, HH:MM.")

    class Meta:
        model = ChargingPlan
        fields = ["enabled", "target_kwh", "target_soc_pct", "repeat", "departure_at", "weekdays", "departure_time",
                  "updated"]  # fmt: skip
        read_only_fields = ["updated"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        plan = self.instance or ChargingPlan(wallbox=self.context["wallbox"])
        candidate = ChargingPlan(
            wallbox=plan.wallbox, **{f: attrs.get(f, getattr(plan, f)) for f in self.Meta.fields if f != "updated"}
        )
        try:
            candidate.full_clean(exclude=["wallbox"], validate_unique=False)
        except DjangoValidationError as error:
            raise api_error(error) from error
        return attrs
