"""Meter configuration, the counters that survive restarts, and the measurement log (MET-1, MET-5)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from energy.config import MAX_TIMEOUT_S
from meter.ct import MAX_PRIMARY_A as CT_MAX_PRIMARY_A
from meter.ct import MIN_PRIMARY_A as CT_MIN_PRIMARY_A
from pages.validators import validate_host


class Meter(models.Model):
    """Where a plant's grid-connection measurement comes from (MET-2)."""

    class Driver(models.TextChoices):
        KSEM_TCP = "ksem_tcp", _("KSEM register layout over Modbus TCP (KSEM, plant simulator)")
        SDM630_RTU = "sdm630_rtu", _("Eastron SDM630 over Modbus RTU")

    class Parity(models.TextChoices):
        NONE = "N", _("none")
        EVEN = "E", _("even")
        ODD = "O", _("odd")

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="meter")
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
    serial_port = models.CharField(
        _("serial line"),
        max_length=200,
        blank=True,
        help_text=_(
            "Modbus RTU meters: a serial device (/dev/ttyUSB0) or an RTU-over-TCP server (socket://host:port)."
        ),
    )
    baudrate = models.PositiveIntegerField(
        _("baud rate"), default=9600, choices=[(b, str(b)) for b in (1200, 2400, 4800, 9600, 19200, 38400)]
    )
    parity = models.CharField(_("parity"), max_length=1, choices=Parity.choices, default=Parity.NONE)
    stopbits = models.PositiveSmallIntegerField(_("stop bits"), default=1, choices=[(1, "1"), (2, "2")])
    ct_primary_a = models.PositiveIntegerField(
        _("current transformer primary (A)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(CT_MIN_PRIMARY_A), MaxValueValidator(CT_MAX_PRIMARY_A)],
        help_text=_(
            "The meter measures through current transformers x/5 A: currents, powers and energies are "
            "multiplied by x/5. Common: 100, 150, 200, 250, 400, 600, 800, 1000 A. Empty: measured directly."
        ),
    )

    def __str__(self) -> str:
        return f"{self.get_driver_display()} {self.host}:{self.port}/{self.unit_id}"

    def clean(self) -> None:
        if self.driver == self.Driver.SDM630_RTU and not self.serial_port:
            raise ValidationError({"serial_port": _("An RTU meter needs its serial line.")})


class EnergyTotals(models.Model):
    """The plant's energy counters since commissioning.

    total = offset + last meter reading. The offset grows only when the meter's own counter
    goes backwards (meter replaced or reset), so the totals never decrease and survive restarts.
    """

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="energy_totals")
    offsets = models.JSONField(default=dict)
    last_raw = models.JSONField(default=dict)
    last_raw_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"energy totals of {self.plant}"


class MeterLog(models.Model):
    """5-minute averages, kept 14 days (MET-5).

    An interval with no measurement (the worker or the meter was down, the clock jumped) is a
    row with ``gap`` set, ``samples`` 0 and no values: marked, never filled with invented data.
    """

    # Every query and the retention job go by plant and time: the unique (plant, start) index
    # serves them, so neither column has an index of its own (docs/operations.md, "Indexes").
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="meter_logs", db_index=False)
    start = models.DateTimeField()
    samples = models.PositiveIntegerField()
    gap = models.BooleanField(default=False)
    grid_power_w = models.FloatField(null=True)
    grid_power_min_w = models.FloatField(null=True)
    grid_power_max_w = models.FloatField(null=True)
    reactive_power_var = models.FloatField(null=True)
    apparent_power_va = models.FloatField(null=True)
    frequency_hz = models.FloatField(null=True)
    power_l1_w = models.FloatField(null=True)
    power_l2_w = models.FloatField(null=True)
    power_l3_w = models.FloatField(null=True)
    voltage_l1_v = models.FloatField(null=True)
    voltage_l2_v = models.FloatField(null=True)
    voltage_l3_v = models.FloatField(null=True)
    current_l1_a = models.FloatField(null=True)
    current_l2_a = models.FloatField(null=True)
    current_l3_a = models.FloatField(null=True)
    pv_power_w = models.FloatField(null=True)
    battery_power_w = models.FloatField(null=True)
    battery_soc_pct = models.FloatField(null=True)
    house_power_w = models.FloatField(null=True)
    wallbox_power_w = models.FloatField(null=True)
    # An inverter was limited during the interval (feed-in limit, LPP): PV below what was available.
    curtailed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plant", "start"], name="meterlog_plant_start")]
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.plant} {self.start:%Y-%m-%d %H:%M}"


class EnergyRecord(models.Model):
    """The plant's energy totals at the end of each 5-minute interval, kept 2 years (MET-5, tariffs)."""

    # Served by the unique (plant, time) index alone, as the 5-minute log.
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="energy_records", db_index=False)
    time = models.DateTimeField()
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
