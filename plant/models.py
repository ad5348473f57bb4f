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

    def is_option_active(self, option: str) -> bool:
        """Whether an option (e.g. the wallbox convenience functions, WB-1) is unlocked for this plant.

        The one check behind :func:`plant.options.is_option_active`; device apps, which sit below
        ``plant`` and cannot import it, call it on the plant they were given.
        """
        return option in self.active_options

    @property
    def active_options(self) -> frozenset[str]:
        """Names of the options unlocked for this plant (looked up once per instance)."""
        cached: frozenset[str] | None = getattr(self, "_active_options", None)
        if cached is None:
            names = (
                PlantOption.objects.filter(plant=self, active=True).values_list("option", flat=True) if self.pk else []
            )
            cached = frozenset(names)
            self._active_options = cached
        return cached


class PlantOption(models.Model):
    """An option unlocked for a plant (ACT-1): today switched on by an installer in the admin,
    later by an activation code."""

    class Option(models.TextChoices):
        WALLBOX = "wallbox", _("Wallbox convenience functions")

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="options")
    option = models.CharField(_("option"), max_length=32, choices=Option.choices)
    active = models.BooleanField(_("active"), default=True)
    activated_at = models.DateTimeField(_("activated"), auto_now_add=True)

    class Meta:
        ordering = ["plant", "option"]
        verbose_name = _("plant option")
        constraints = [models.UniqueConstraint(fields=["plant", "option"], name="plant_option_unique")]

    def __str__(self) -> str:
        return f"{self.get_option_display()} ({'on' if self.active else 'off'})"
