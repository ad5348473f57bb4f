"""Wallboxes in the admin: settings checked by the same rules as the pages. Adding a box needs its
setup on the RS485 line (address 50 -> 100), so boxes are added on the Wallbox page, not here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from wallbox.forms import MainsForm, WallboxEditForm
from wallbox.models import (
    BATTERY_USE_FIELDS,
    ChargingSession,
    MainsSettings,
    PhaseSwitchEvent,
    TimeModeSchedule,
    Wallbox,
)


class TimeModeInline(admin.StackedInline[TimeModeSchedule, Wallbox]):
    model = TimeModeSchedule
    can_delete = False
    max_num = 1
    extra = 0


class WallboxAdminForm(WallboxEditForm):
    class Meta(WallboxEditForm.Meta):
        fields = [
            *WallboxEditForm.Meta.fields,
            "mode",
            *BATTERY_USE_FIELDS,
            "solar_plus_start",
            "solar_plus_min_share_pct",
        ]


@admin.register(Wallbox)
class WallboxAdmin(admin.ModelAdmin[Wallbox]):
    form = WallboxAdminForm
    list_display = ["name", "plant", "type", "address_text", "setup", "phase_usage", "mode", "serial_number"]
    list_filter = ["plant", "type", "setup"]
    readonly_fields = ["plant", "type", "address", "setup", "setup_message", "manual_pause", "serial_number",
                       "hardware_version", "firmware_version", "info_read_at", "created"]  # fmt: skip
    inlines = [TimeModeInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MainsSettings)
class MainsSettingsAdmin(admin.ModelAdmin[MainsSettings]):
    form = MainsForm
    fields = ["plant", *MainsForm.Meta.fields]
    list_display = ["plant", "phases", "fuse_l1_a", "fuse_l2_a", "fuse_l3_a", "unbalance_limit_va"]


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChargingSession)
class ChargingSessionAdmin(_ReadOnly, admin.ModelAdmin[ChargingSession]):
    list_display = ["wallbox_name", "plant", "started", "ended", "energy_wh", "solar_wh"]
    list_filter = ["plant"]


@admin.register(PhaseSwitchEvent)
class PhaseSwitchEventAdmin(_ReadOnly, admin.ModelAdmin[PhaseSwitchEvent]):
    list_display = ["time", "wallbox_name", "vehicle", "phases", "plant"]
    list_filter = ["plant"]
