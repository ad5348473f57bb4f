"""Tariffs, their versions and dynamic prices, and the hourly energy history (TAR-1, TAR-2, MET-5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from tariffs.pricing import WeeklyTariff


class Direction(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    FEED_IN = "feed_in", _("Feed-in")


CURRENCIES = ("EUR", "CHF", "GBP", "USD", "CZK", "DKK", "HUF", "NOK", "PLN", "SEK")


class TariffSettings(models.Model):
    """A plant's contract information; the device time zone is the plant's own."""

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="tariff_settings")
    currency = models.CharField(_("currency"), max_length=3, choices=[(c, c) for c in CURRENCIES], default="EUR")

    def __str__(self) -> str:
        return f"tariff settings of {self.plant}"


class TariffVersion(models.Model):
    """The working prices of a tariff on its weekly grid, in force from ``valid_from`` until the next version.

    ``prices`` is a list of ``{"name": ..., "price": "0.290000"}`` (per kWh, decimal strings);
    ``grid`` seven lists (Monday first) of 24 indexes into ``prices``, local time. A change never
    edits a version: it adds one, so past energy keeps the price that was in force.
    """

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="tariff_versions")
    direction = models.CharField(_("tariff"), max_length=8, choices=Direction.choices)
    valid_from = models.DateTimeField(_("valid from"))
    basic_charge = models.DecimalField(_("monthly basic charge"), max_digits=10, decimal_places=2, default=Decimal(0))
    prices = models.JSONField(default=list)
    grid = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plant", "direction", "valid_from"], name="tariffversion_plant_dir_from")
        ]
        ordering = ["plant", "direction", "valid_from"]

    def __str__(self) -> str:
        return f"{self.plant} {self.direction} from {self.valid_from:%Y-%m-%d %H:%M}"

    def as_tariff(self) -> WeeklyTariff:
        return WeeklyTariff(
            valid_from=self.valid_from,
            prices=tuple(Decimal(p["price"]) for p in self.prices),
            grid=tuple(tuple(day) for day in self.grid),
            basic_charge=self.basic_charge,
        )


class DynamicPrice(models.Model):
    """A price for one hour or quarter hour (imported or fetched); overrides the weekly grid for its time."""

    # Served by the unique (plant, direction, start) index alone.
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="dynamic_prices", db_index=False)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    start = models.DateTimeField()
    end = models.DateTimeField()
    price = models.DecimalField(max_digits=12, decimal_places=6)
    source = models.CharField(max_length=8, choices=[("file", "file"), ("http", "http")], default="file")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "direction", "start"], name="dynamicprice_plant_start")]
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.plant} {self.direction} {self.start:%Y-%m-%d %H:%M} {self.price}"


class PriceSource(models.Model):
    """An HTTP endpoint answering dynamic prices as JSON, fetched periodically."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="price_sources")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    url = models.URLField(_("price endpoint (JSON)"), max_length=500)
    enabled = models.BooleanField(_("fetch periodically"), default=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "direction"], name="pricesource_plant_direction")]

    def __str__(self) -> str:
        return f"{self.plant} {self.direction} {self.url}"


class EnergyHour(models.Model):
    """A plant's energy in one local hour, kept more than 2 years (MET-5), in milliwatt-hours.

    Purchase and feed-in come from the totals since commissioning, so they always add up to the
    counter difference; ``gap`` marks hours whose energy was measured only as a total across an
    outage. PV, house, battery and wallbox come from the 5-minute averages (the devices the
    snapshot knows; ``None`` where the plant has no such device or nothing was measured): they are
    an estimate from averaged power and leave an outage out.
    """

    # Served by the unique (plant, start) index alone (docs/operations.md, "Indexes").
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="energy_hours", db_index=False)
    start = models.DateTimeField()
    purchase_mwh = models.BigIntegerField()
    feed_in_mwh = models.BigIntegerField()
    pv_mwh = models.BigIntegerField(null=True)
    house_mwh = models.BigIntegerField(null=True)
    battery_charge_mwh = models.BigIntegerField(null=True)
    battery_discharge_mwh = models.BigIntegerField(null=True)
    wallbox_mwh = models.BigIntegerField(null=True)
    gap = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "start"], name="energyhour_plant_start")]
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.plant} {self.start:%Y-%m-%d %H:%M}"

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=1)

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HOUR_FIELDS}


HOUR_FIELDS = (
    "start", "purchase_mwh", "feed_in_mwh", "pv_mwh", "house_mwh", "battery_charge_mwh", "battery_discharge_mwh",
    "wallbox_mwh", "gap",
)  # fmt: skip
