"""The plant: one grid connection point, the root every device, setting and record hangs from."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone (e.g. Europe/Berlin)."), params={"value": value})


class Plant(models.Model):
    class Position(models.TextChoices):
        GRID = "grid", _("Grid connection point")
        HOME = "home", _("Home consumption")

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Berlin", validators=[validate_time_zone]
    )
    installation_position = models.CharField(
        _("installation position"), max_length=8, choices=Position.choices, default=Position.GRID
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Only active plants run the 1 s cycle."))
    commissioned_at = models.DateTimeField(_("commissioned"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("plant")

    def __str__(self) -> str:
        return self.name
