"""The installer's settings of the grid operator's limits: on/off, failsafe values, nominal maxima."""

from __future__ import annotations

from django import forms

from smartgrid.models import GridLimits

FIELDS = [
    "enabled",
    "failsafe_consumption_w",
    "failsafe_production_w",
    "failsafe_duration_s",
    "consumption_nominal_max_w",
    "production_nominal_max_w",
]


class GridLimitsForm(forms.ModelForm[GridLimits]):
    """Validated by the model's bounds (0 W..1 MW, failsafe duration 2 h..24 h)."""

    class Meta:
        model = GridLimits
        fields = FIELDS
