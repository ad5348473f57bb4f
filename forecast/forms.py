"""The installer's location and PV orientation of the plant, for the forecast."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _


class LocationForm(forms.Form):
    latitude_deg = forms.FloatField(
        label=_("Latitude (°)"), min_value=-90.0, max_value=90.0, required=False, help_text=_("North positive.")
    )
    longitude_deg = forms.FloatField(
        label=_("Longitude (°)"), min_value=-180.0, max_value=180.0, required=False, help_text=_("East positive.")
    )
    pv_tilt_deg = forms.FloatField(
        label=_("PV tilt (°)"),
        min_value=0.0,
        max_value=90.0,
        required=False,
        help_text=_("0 = flat, 90 = vertical; empty: unknown (the forecast assumes flat)."),
    )
    pv_azimuth_deg = forms.FloatField(
        label=_("PV azimuth (°)"),
        min_value=0.0,
        max_value=360.0,
        required=False,
        help_text=_("From north: 90 = east, 180 = south, 270 = west; empty: south."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("latitude_deg") is None) != (data.get("longitude_deg") is None):
            raise forms.ValidationError(_("Give latitude and longitude together, or leave both empty."))
        return data
