"""The Modbus configuration (MB-1..MB-5): slave switches, TLS client certificates, RS485 A/B, master targets."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from meter.models import validate_host
from modbus import rtu

MAX_TARGETS = 10
INTERVAL_CHOICES_S = (1, 5, 10, 15, 30, 60, 300, 900)


class ModbusSettings(models.Model):
    """One row (pk 1): what the ``serve_modbus`` process serves and pushes."""

    class PushMode(models.TextChoices):
        CYCLE = "cycle", _("after each measurement cycle")
        INTERVAL = "interval", _("at a fixed interval")

    plant = models.ForeignKey(
        "plant.Plant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("served plant"),
        help_text=_("Empty: the first active plant."),
    )
    slave_enabled = models.BooleanField(_("Modbus TCP slave"), default=True)
    tls_enabled = models.BooleanField(
        _("encryption (TLS)"),
        default=False,
        help_text=_("On: the slave answers only over TLS, and only to accepted client certificates."),
    )
    master_enabled = models.BooleanField(_("Modbus TCP master"), default=False)
    push_total = models.BooleanField(_("current values total (0-27)"), default=True)
    push_phases = models.BooleanField(_("current values per phase (40-145)"), default=False)
    push_energy_total = models.BooleanField(_("energy totals (512-551)"), default=False)
    push_energy_phases = models.BooleanField(_("energy per phase (592-791)"), default=False)
    push_mode = models.CharField(_("transmit"), max_length=8, choices=PushMode.choices, default=PushMode.CYCLE)
    push_interval_s = models.PositiveIntegerField(
        _("interval (s)"), default=10, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    push_average = models.BooleanField(
        _("mean value over the interval"), default=False, help_text=_("Off: the current value.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Modbus settings")

    def __str__(self) -> str:
        return "Modbus settings"

    def push_groups(self) -> tuple[str, ...]:
        flags = (
            ("total", self.push_total),
            ("phases", self.push_phases),
            ("energy_total", self.push_energy_total),
            ("energy_phases", self.push_energy_phases),
        )
        return tuple(name for name, on in flags if on)


class ClientCertificate(models.Model):
    """A TLS client certificate that has connected; served only once an installer accepts it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("not accepted")
        ACCEPTED = "accepted", _("accepted")

    fingerprint = models.CharField(
        _("SHA-256 fingerprint"),
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[0-9a-f]{64}$", _("64 lower-case hex digits"))],
    )
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    first_seen = models.DateTimeField(_("first seen"), auto_now_add=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)

    class Meta:
        ordering = ["first_seen", "pk"]
        verbose_name = _("client certificate")

    def __str__(self) -> str:
        return f"{self.subject or self.fingerprint[:16]} ({self.status})"


class SerialInterface(models.Model):
    """RS485 A or B (MB-3). ``held_by`` names the application that uses the line instead (DEV-5)."""

    class Parity(models.TextChoices):
        NONE = "N", _("none")
        EVEN = "E", _("even")
        ODD = "O", _("odd")

    class Mode(models.TextChoices):
        SLAVE = rtu.SLAVE, _("slave")
        MASTER = rtu.MASTER, _("master")

    class Preset(models.TextChoices):
        PLENTICORE = "plenticore", _("PIKO IQ / PLENTICORE")
        PIKO_MP_PLUS = "piko_mp_plus", _("PIKO MP plus")
        PIKO_CI = "piko_ci", _("PIKO CI")
        USER = rtu.USER_DEFINED, _("user-defined")

    name = models.CharField(_("interface"), max_length=1, unique=True, choices=[("A", "RS485 A"), ("B", "RS485 B")])
    enabled = models.BooleanField(_("enabled"), default=True)
    device = models.CharField(
        _("serial device"),
        max_length=200,
        blank=True,
        help_text=_("e.g. /dev/ttyUSB0. Empty: the default of the installation (KSEM_RS485_A / KSEM_RS485_B)."),
    )
    preset = models.CharField(_("preset"), max_length=16, choices=Preset.choices, default=Preset.PLENTICORE)
    mode = models.CharField(_("mode"), max_length=6, choices=Mode.choices, default=Mode.SLAVE)
    address = models.PositiveSmallIntegerField(
        _("slave address"), default=1, validators=[MinValueValidator(1), MaxValueValidator(247)]
    )
    baudrate = models.PositiveIntegerField(_("baud rate"), default=38400, choices=[(b, str(b)) for b in rtu.BAUD_RATES])
    bytesize = models.PositiveSmallIntegerField(_("data bits"), default=8, choices=[(b, str(b)) for b in rtu.DATA_BITS])
    parity = models.CharField(_("parity"), max_length=1, choices=Parity.choices, default=Parity.NONE)
    stopbits = models.PositiveSmallIntegerField(_("stop bits"), default=2, choices=[(b, str(b)) for b in rtu.STOP_BITS])
    held_by = models.CharField(
        _("used by"),
        max_length=100,
        blank=True,
        help_text=_("The application (wallbox, battery) that uses this line; it is then not served here."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("RS485 interface")

    def __str__(self) -> str:
        return f"RS485 {self.name}"

    def line(self) -> rtu.LineSettings:
        return rtu.LineSettings(self.mode, self.address, self.baudrate, self.bytesize, self.parity, self.stopbits)


class MasterTarget(models.Model):
    """A slave the Modbus TCP master writes the meter registers to (MB-4)."""

    host = models.CharField(_("host or IP address"), max_length=253, validators=[validate_host])
    port = models.PositiveIntegerField(
        _("port"), default=502, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    unit_id = models.PositiveSmallIntegerField(
        _("unit id"), default=1, validators=[MinValueValidator(0), MaxValueValidator(255)]
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("Modbus TCP master target")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.unit_id}"
