"""The meter's settings form (MET-2): the CT primary offered as a list of common ratios, and any
other primary from 1 to 5000 A typed in."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from meter.ct import COMMON_PRIMARIES_A, SECONDARY_A
from meter.models import Meter


class CtPrimaryInput(forms.NumberInput):
    """A number field with the common ratios as suggestions (``<datalist>``): pick one or type another."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        list_id = f"{(attrs or {}).get('id', name)}-ratios"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join(
            "", '<option value="{}">{}/{} A</option>', ((p, p, SECONDARY_A) for p in COMMON_PRIMARIES_A)
        )
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class MeterForm(forms.ModelForm[Meter]):
    class Meta:
        model = Meter
        fields = [
            "plant", "driver", "host", "port", "unit_id", "timeout_s", "read_flow_summary",
            "serial_port", "baudrate", "parity", "stopbits", "ct_primary_a",
        ]  # fmt: skip
        widgets = {"ct_primary_a": CtPrimaryInput(attrs={"min": 1, "max": 5000, "step": 1})}
