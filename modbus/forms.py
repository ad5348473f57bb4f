"""Forms of the Modbus settings page (MB-1..MB-5)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from modbus import services
from modbus.models import MAX_TARGETS, MasterTarget, ModbusSettings, SerialInterface


class SlaveSettingsForm(forms.ModelForm[ModbusSettings]):
    class Meta:
        model = ModbusSettings
        fields = ["slave_enabled", "tls_enabled", "plant"]


class MasterSettingsForm(forms.ModelForm[ModbusSettings]):
    class Meta:
        model = ModbusSettings
        fields = [
            "master_enabled",
            "push_total",
            "push_phases",
            "push_energy_total",
            "push_energy_phases",
            "push_mode",
            "push_interval_s",
            "push_average",
        ]
        widgets = {
            "push_mode": forms.RadioSelect,
            "push_interval_s": forms.NumberInput(attrs={"list": "push-intervals"}),
        }


class SerialInterfaceForm(forms.ModelForm[SerialInterface]):
    class Meta:
        model = SerialInterface
        fields = ["enabled", "device", "preset", "mode", "address", "baudrate", "bytesize", "parity", "stopbits"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"rs485-{kwargs['instance'].name}")
        super().__init__(*args, **kwargs)
        self._preset_before = self.instance.preset

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("enabled") and self.instance.held_by:
            raise forms.ValidationError(
                _("RS485 %(name)s is used by %(application)s; it cannot be enabled for Modbus.")
                % {"name": self.instance.name, "application": self.instance.held_by}
            )
        return data

    def save(self, commit: bool = True) -> SerialInterface:
        interface = super().save(commit=False)
        if interface.preset != self._preset_before:
            services.apply_preset(interface)
        else:
            services.match_preset(interface)
        if commit:
            interface.save()
        return interface


class MasterTargetForm(forms.ModelForm[MasterTarget]):
    class Meta:
        model = MasterTarget
        fields = ["host", "port", "unit_id", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and MasterTarget.objects.count() >= MAX_TARGETS:
            raise forms.ValidationError(_("At most %(n)d targets are possible.") % {"n": MAX_TARGETS})
        return data


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Modbus configuration file"))
