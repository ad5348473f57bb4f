"""Inverters, the battery behind a PIKO MP plus, and a plant's power settings (INV-1, INV-4, INV-5).

The rules that span several devices (at most 5 inverters, one battery system, the 50 % floor,
nothing that needs the grid connection point in the home-consumption position) live in
``inverters.services`` so the pages, the admin and the API apply exactly the same ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from energy import config as energy

MAX_INVERTER_W = 1_000_000.0


class Inverter(models.Model):
    class Type(models.TextChoices):
        PLENTICORE = energy.PLENTICORE, "PLENTICORE plus/G3"
        PLENTICORE_BI = energy.PLENTICORE_BI, "PLENTICORE BI"
        PIKO_IQ = energy.PIKO_IQ, "PIKO IQ"
        PIKO_EPC = energy.PIKO_EPC, "PIKO 4.2-20 / PIKO EPC (PIKO FW >= 5.0)"
        PIKO_CI = energy.PIKO_CI, "PIKO CI"
        PIKO_MP_PLUS = energy.PIKO_MP_PLUS, "PIKO MP plus"

    class Category(models.TextChoices):
        PHOTOVOLTAIC = "photovoltaic", _("Photovoltaic")
        PHOTOVOLTAIC_BATTERY = "photovoltaic_battery", _("Photovoltaic with battery")
        BATTERY = "battery", _("Battery")

    class Connection(models.TextChoices):
        TCP = "tcp", _("Modbus TCP (LAN)")
        RS485 = "rs485", _("RS485")

    class Interface(models.TextChoices):
        A = "A", _("RS485 A")
        B = "B", _("RS485 B")

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="inverters")
    name = models.CharField(_("name"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    power_class = models.CharField(_("type/power class"), max_length=32, blank=True)
    max_ac_w = models.FloatField(
        _("maximum AC output power (W)"),
        validators=[MinValueValidator(1.0), MaxValueValidator(MAX_INVERTER_W)],
        help_text=_("Filled in from the type/power class; the basis for spreading a feed-in limit."),
    )
    category = models.CharField(_("category"), max_length=24, choices=Category.choices, editable=False)
    connection = models.CharField(_("connection"), max_length=8, choices=Connection.choices, editable=False)
    host = models.CharField(_("IP address or host name"), max_length=253, blank=True)
    port = models.PositiveIntegerField(
        _("port"), default=1502, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    unit_id = models.PositiveSmallIntegerField(
        _("unit id"), default=71, validators=[MinValueValidator(1), MaxValueValidator(247)]
    )
    interface = models.CharField(_("RS485 interface"), max_length=1, choices=Interface.choices, blank=True)
    address = models.PositiveSmallIntegerField(
        _("RS485 address"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(247)]
    )
    timeout_s = models.FloatField(
        _("timeout (s)"),
        default=1.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(energy.MAX_TIMEOUT_S)],
        help_text=_("An answer that takes longer counts as a communication error."),
    )
    with_battery = models.BooleanField(
        _("with battery"),
        default=False,
        help_text=_("A PLENTICORE with a battery, or a PIKO MP plus whose battery the energy manager manages."),
    )
    serial_number = models.CharField(_("serial number"), max_length=64, blank=True, editable=False)
    hardware_version = models.CharField(_("hardware version"), max_length=64, blank=True, editable=False)
    software_version = models.CharField(_("software version"), max_length=64, blank=True, editable=False)
    vendor = models.CharField(_("vendor"), max_length=64, blank=True, editable=False)
    product = models.CharField(_("product"), max_length=64, blank=True, editable=False)
    detected_at = models.DateTimeField(_("detected"), null=True, blank=True, editable=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["plant", "position", "pk"]
        verbose_name = _("inverter")
        constraints = [
            models.UniqueConstraint(fields=["plant", "name"], name="inverter_name_unique_per_plant"),
            models.UniqueConstraint(
                fields=["plant", "interface", "address"],
                condition=models.Q(connection="rs485"),
                name="inverter_rs485_address_unique_per_interface",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.derive()
        super().save(*args, **kwargs)

    @property
    def controllable(self) -> bool:
        return self.type not in energy.MONITORED_ONLY_TYPES

    @property
    def is_battery_system(self) -> bool:
        """A hybrid or battery inverter with its battery: a plant has at most one (INV-3)."""
        return self.type == self.Type.PLENTICORE_BI or (
            self.with_battery and self.type in (self.Type.PLENTICORE, self.Type.PIKO_MP_PLUS)
        )

    @property
    def address_text(self) -> str:
        if self.connection == self.Connection.RS485:
            return f"RS485 {self.interface} / {self.address}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} / {self.unit_id}"

    def derive(self) -> None:
        """Set what follows from the type: connection and category."""
        self.connection = self.Connection.RS485 if self.type == self.Type.PIKO_MP_PLUS else self.Connection.TCP
        if self.type == self.Type.PLENTICORE_BI:
            self.with_battery = True
            self.category = self.Category.BATTERY
        elif self.with_battery:
            self.category = self.Category.PHOTOVOLTAIC_BATTERY
        else:
            self.category = self.Category.PHOTOVOLTAIC


class Battery(models.Model):
    """The battery on a PIKO MP plus, managed by the energy manager (INV-5)."""

    class Type(models.TextChoices):
        BYD_HVS = "byd_hvs", "BYD HVS"
        BYD_HVM = "byd_hvm", "BYD HVM"

    inverter = models.OneToOneField(Inverter, on_delete=models.CASCADE, related_name="battery")
    type = models.CharField(_("battery type"), max_length=16, choices=Type.choices)
    modules = models.PositiveSmallIntegerField(
        _("number of modules"), validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    capacity_wh = models.FloatField(
        _("nominal capacity (Wh)"), validators=[MinValueValidator(100.0), MaxValueValidator(1_000_000.0)]
    )
    max_charge_w = models.FloatField(
        _("maximum charging power (W)"), validators=[MinValueValidator(1.0), MaxValueValidator(MAX_INVERTER_W)]
    )
    max_discharge_w = models.FloatField(
        _("maximum discharging power (W)"), validators=[MinValueValidator(1.0), MaxValueValidator(MAX_INVERTER_W)]
    )

    class Meta:
        verbose_name = _("battery")

    def __str__(self) -> str:
        return f"{self.get_type_display()} × {self.modules}"


# The plant option the battery-management activation code unlocks (``plant.options``, ACT-1).
BATTERY_MANAGEMENT_OPTION = "battery_management"


class PowerSettings(models.Model):
    """A plant's feed-in limitation and battery management (INV-4, INV-5, PL-2)."""

    class LimitMode(models.TextChoices):
        WATT = "w", _("W")
        PERCENT = "pct", _("% of generator power")

    class Algorithm(models.TextChoices):
        CLUSTER_V1 = "cluster_v1", _("First generation cluster control")

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="power_settings")
    feed_in_limit_enabled = models.BooleanField(_("feed-in limitation"), default=False)
    limit_mode = models.CharField(_("limit in"), max_length=4, choices=LimitMode.choices, default=LimitMode.PERCENT)
    limit_value = models.FloatField(
        _("feed-in limit"), default=100.0, validators=[MinValueValidator(0.0), MaxValueValidator(MAX_INVERTER_W * 5)]
    )
    algorithm = models.CharField(
        _("control algorithm"), max_length=16, choices=Algorithm.choices, default=Algorithm.CLUSTER_V1
    )
    battery_management_enabled = models.BooleanField(_("battery management"), default=False)
    min_soc_pct = models.FloatField(
        _("minimum SoC (%)"), default=5.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    max_soc_pct = models.FloatField(
        _("maximum SoC (%)"), default=100.0, validators=[MinValueValidator(0.0), MaxValueValidator(100.0)]
    )
    # Issue 19: with a feed-in limit, keep room for the noon peak and be full by the deadline
    # (energy.batteryplan, docs/battery.md); off = charging from all surplus as before.
    grid_optimised = models.BooleanField(
        _("grid-optimised charging"),
        default=True,
        help_text=_(
            "With a feed-in limit: charge in the morning only what the afternoon will not bring, keep room "
            "for the noon peak above the limit, and still be full by the time below."
        ),
    )
    full_by = models.TimeField(
        _("full by (local time)"),
        default=dt.time(16, 0),
        help_text=_("Grid-optimised charging reaches the maximum SoC by this time of day."),
    )

    class Meta:
        verbose_name = _("power settings")
        verbose_name_plural = _("power settings")

    def __str__(self) -> str:
        return f"power settings of {self.plant}"

    @property
    def battery_management_unlocked(self) -> bool:
        """Whether the battery-management activation code has been entered for the plant (INV-3, ACT-1)."""
        return bool(self.plant.is_option_active(BATTERY_MANAGEMENT_OPTION))

    def limit_w(self, generator_power_w: float) -> float:
        """The feed-in limit in W: a % value taken of the generator power, a W value capped by it."""
        if self.limit_mode == self.LimitMode.PERCENT:
            return max(0.0, generator_power_w * min(self.limit_value, 100.0) / 100.0)
        return max(0.0, min(self.limit_value, generator_power_w))
