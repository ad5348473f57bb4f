"""Inverters and power settings in the admin, checked by the same rules and detection as the pages."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from inverters import services
from inverters.forms import InverterForm
from inverters.models import Battery, Inverter, PowerSettings


class InverterAdminForm(InverterForm):
    class Meta(InverterForm.Meta):
        fields = ["plant", *InverterForm.Meta.fields, "position"]


class BatteryInline(admin.StackedInline[Battery, Inverter]):
    model = Battery
    can_delete = True
    extra = 0
    max_num = 1


@admin.register(Inverter)
class InverterAdmin(admin.ModelAdmin[Inverter]):
    form = InverterAdminForm
    list_display = ["name", "plant", "type", "max_ac_w", "connection", "address_text", "serial_number", "position"]
    list_filter = ["plant", "type"]
    readonly_fields = [
        "category", "connection", "serial_number", "hardware_version", "software_version", "vendor", "product",
        "detected_at",
    ]  # fmt: skip
    inlines = [BatteryInline]


class PowerSettingsAdminForm(forms.ModelForm[PowerSettings]):
    class Meta:
        model = PowerSettings
        fields = [
            "plant", "feed_in_limit_enabled", "limit_mode", "limit_value", "algorithm", "battery_management_enabled",
            "min_soc_pct", "max_soc_pct",
        ]  # fmt: skip

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # runs the model's validation first
        if not self.errors:
            try:
                services.check_power_settings(self.instance)
            except ValidationError as error:
                self.add_error(None, error)


@admin.register(PowerSettings)
class PowerSettingsAdmin(admin.ModelAdmin[PowerSettings]):
    form = PowerSettingsAdminForm
    list_display = ["plant", "feed_in_limit_enabled", "limit_mode", "limit_value", "battery_management_enabled",
                    "battery_management_unlocked"]  # fmt: skip
    readonly_fields = ["battery_management_unlocked"]
