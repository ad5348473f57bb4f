"""The plant: one grid connection point, the root every device, setting and record hangs from."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal import activation


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
    serial_number = models.CharField(
        _("serial number"),
        max_length=32,
        unique=True,
        default=activation.new_serial,
        editable=False,
        help_text=_("The device's serial number; activation codes are bound to it (ACT-1)."),
    )
    # Where the PV sits, for the forecast (forecast/, energy/forecast.py). Empty: the middle of the
    # time zone's country (energy.forecast.default_location), which the forecast says it uses.
    latitude_deg = models.FloatField(
        _("latitude (°)"), null=True, blank=True, validators=[MinValueValidator(-90.0), MaxValueValidator(90.0)]
    )
    longitude_deg = models.FloatField(
        _("longitude (°)"), null=True, blank=True, validators=[MinValueValidator(-180.0), MaxValueValidator(180.0)]
    )
    pv_tilt_deg = models.FloatField(
        _("PV tilt (°)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(90.0)],
        help_text=_("0 = flat, 90 = vertical; empty: unknown."),
    )
    pv_azimuth_deg = models.FloatField(
        _("PV azimuth (°)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(360.0)],
        help_text=_("Direction the modules face, from north: 90 = east, 180 = south, 270 = west; empty: unknown."),
    )

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
    """An option unlocked for a plant (ACT-1) by an activation code bound to its serial number.

    ``source`` says how: a code entered on the page or the API, carried over from the admin
    switches of earlier versions (a data migration), or the simulated demo plant's bootstrap."""

    class Option(models.TextChoices):
        WALLBOX = activation.WALLBOX, _("Wallbox convenience functions")
        BATTERY_MANAGEMENT = activation.BATTERY_MANAGEMENT, _("Battery management for PIKO MP plus")

    class Source(models.TextChoices):
        CODE = "code", _("activation code")
        UPGRADE = "upgrade", _("carried over from an earlier version")
        DEMO = "demo", _("simulated demo plant")

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="options")
    option = models.CharField(_("option"), max_length=32, choices=Option.choices)
    active = models.BooleanField(_("active"), default=True)
    activated_at = models.DateTimeField(_("activated"), auto_now_add=True)
    source = models.CharField(_("released by"), max_length=16, choices=Source.choices, default=Source.CODE)
    code = models.CharField(_("activation code"), max_length=activation.DIGITS, blank=True)

    class Meta:
        ordering = ["plant", "option"]
        verbose_name = _("plant option")
        constraints = [models.UniqueConstraint(fields=["plant", "option"], name="plant_option_unique")]

    def __str__(self) -> str:
        return f"{self.get_option_display()} ({'on' if self.active else 'off'})"
