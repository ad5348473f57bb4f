"""The stored forecast of each plant (issue 19 part 1): recomputed every 15 minutes, the latest kept."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StoredForecast(models.Model):
    """One forecast: 36 hours of 15-minute slots as JSON (``energy.forecast.Forecast.to_json``).

    One row per plant, overwritten by every run: the cycle and the pages want the latest only.
    """

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="forecast")
    computed_at = models.DateTimeField(_("computed"))
    data = models.JSONField(default=dict)
    # What it was computed from, so the page can say it (location guessed, cold start ...).
    inputs = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("forecast")

    def __str__(self) -> str:
        return f"forecast of {self.plant} at {self.computed_at:%Y-%m-%d %H:%M}"
