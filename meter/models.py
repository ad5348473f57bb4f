"""Meter configuration, the counters that survive restarts, and the measurement log (MET-1, MET-5)."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from meter.drivers.ksem_tcp import MAX_TIMEOUT_S
from plant.models import Plant

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_host(value: str) -> None:
    """An IPv4/IPv6 address or a DNS host name (letters, digits, hyphens; dot-separated labels)."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not value or len(value) > 253 or not all(_HOST_LABEL.match(label) for label in value.rstrip(".").split(".")):
        raise ValidationError(_("%(value)s is neither an IP address nor a host name."), params={"value": value})


class Meter(models.Model):
    """Where a plant's grid-connection measurement comes from (MET-2)."""

    class Driver(models.TextChoices):
        KSEM_TCP = "ksem_tcp", _("KSEM register layout over Modbus TCP (KSEM, plant simulator)")

    plant = models.OneToOneField(Plant, on_delete=models.CASCADE, related_name="meter")
    driver = models.CharField(_("driver"), max_length=16, choices=Driver.choices, default=Driver.KSEM_TCP)
    host = models.CharField(_("host"), max_length=253, default="127.0.0.1", validators=[validate_host])
    port = models.PositiveIntegerField(
        _("port"), default=15020, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    unit_id = models.PositiveSmallIntegerField(
        _("unit id"), default=1, validators=[MinValueValidator(1), MaxValueValidator(247)]
    )
    timeout_s = models.FloatField(
        _("timeout (s)"),
        default=0.5,
        validators=[MinValueValidator(0.05), MaxValueValidator(MAX_TIMEOUT_S)],
        help_text=_("A read that takes longer counts as a communication error."),
    )
    read_flow_summary = models.BooleanField(
        _("read energy-flow summary"),
        default=True,
        help_text=_("Also read PV, battery, house and wallbox power from the source's 0xA000 block (KSEM G2)."),
    )

    def __str__(self) -> str:
        return f"{self.get_driver_display()} {self.host}:{self.port}/{self.unit_id}"


class EnergyTotals(models.Model):
    """The plant's energy counters since commissioning.

    total = offset + last meter reading. The offset grows only when the meter's own counter
    goes backwards (meter replaced or reset), so the totals never decrease and survive restarts.
    """

    plant = models.OneToOneField(Plant, on_delete=models.CASCADE, related_name="energy_totals")
    offsets = models.JSONField(default=dict)
    last_raw = models.JSONField(default=dict)
    last_raw_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"energy totals of {self.plant}"


class MeterLog(models.Model):
    """5-minute averages, kept 14 days (MET-5)."""

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="meter_logs")
    start = models.DateTimeField(db_index=True)
    samples = models.PositiveIntegerField()
    grid_power_w = models.FloatField()
    grid_power_min_w = models.FloatField()
    grid_power_max_w = models.FloatField()
    reactive_power_var = models.FloatField()
    apparent_power_va = models.FloatField()
    frequency_hz = models.FloatField()
    power_l1_w = models.FloatField()
    power_l2_w = models.FloatField()
    power_l3_w = models.FloatField()
    voltage_l1_v = models.FloatField()
    voltage_l2_v = models.FloatField()
    voltage_l3_v = models.FloatField()
    current_l1_a = models.FloatField()
    current_l2_a = models.FloatField()
    current_l3_a = models.FloatField()
    pv_power_w = models.FloatField(null=True)
    battery_power_w = models.FloatField(null=True)
    battery_soc_pct = models.FloatField(null=True)
    house_power_w = models.FloatField(null=True)
    wallbox_power_w = models.FloatField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "start"], name="meterlog_plant_start")]
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.plant} {self.start:%Y-%m-%d %H:%M}"


class EnergyRecord(models.Model):
    """The plant's energy totals at the end of each 5-minute interval, kept 2 years (MET-5, tariffs)."""

    plant = models.ForeignKey(Plant, on_delete=models.CASCADE, related_name="energy_records")
    time = models.DateTimeField(db_index=True)
    active_import_wh = models.FloatField()
    active_export_wh = models.FloatField()
    reactive_import_varh = models.FloatField()
    reactive_export_varh = models.FloatField()
    apparent_import_vah = models.FloatField()
    apparent_export_vah = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "time"], name="energyrecord_plant_time")]
        ordering = ["time"]

    def __str__(self) -> str:
        return f"{self.plant} {self.time:%Y-%m-%d %H:%M}"
