"""Wallboxes (ENECTOR), their Time Mode week, the plant's mains connection, charging sessions and
the phase-switching log (WB-2..WB-13).

The rules that span several rows (a free address on the line, what a single-phase type may do)
live in ``wallbox.rules`` so pages, admin and API apply the same ones.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from energy import config as energy
from pages.validators import validate_host

MIN_CURRENT_A = 6.0
# The TCP port most RS485-to-Ethernet serial servers use for transparent Modbus RTU.
GATEWAY_PORT = 502
MAX_MIN_CURRENT_A = 16.0
MAX_FUSE_A = 1000.0
MAX_UNBALANCE_VA = 100_000.0
# WB-7: the house battery setting of each mode that has one (energy.BATTERY_USE_MODES).
BATTERY_USE_FIELDS = tuple(f"battery_use_{mode}" for mode in energy.BATTERY_USE_MODES)


def default_time_mode() -> list[list[str]]:
    return [[energy.POWER] * 24 for _day in energy.WEEKDAYS]


def validate_time_mode(value: Any) -> None:
    """Seven weekdays (Monday first) of 24 hourly modes, each one of the modes Time Mode may pick."""
    if not isinstance(value, list) or len(value) != len(energy.WEEKDAYS):
        raise ValidationError(_("Time Mode needs 7 weekdays (Monday first), each a list of 24 hourly modes."))
    for index, day in enumerate(value):
        if not isinstance(day, list) or len(day) != 24:
            raise ValidationError(
                _("Weekday %(day)s of Time Mode needs 24 hourly modes."), params={"day": energy.WEEKDAYS[index]}
            )
        for hour, mode in enumerate(day):
            if mode not in energy.HOURLY_MODES:
                raise ValidationError(
                    _("%(day)s %(hour)02d:00: %(mode)r is not one of %(modes)s."),
                    params={
                        "day": energy.WEEKDAYS[index],
                        "hour": hour,
                        "mode": mode,
                        "modes": ", ".join(energy.HOURLY_MODES),
                    },
                )


class Wallbox(models.Model):
    class Type(models.TextChoices):
        ENECTOR_11 = energy.ENECTOR_11, "KOSTAL ENECTOR AC 3.7/11"
        ENECTOR_3_7 = energy.ENECTOR_3_7, _("KOSTAL ENECTOR AC 3.7/11 (set to 3.7 kW, 1-phase)")
        ENECTOR_7_4 = energy.ENECTOR_7_4, "KOSTAL ENECTOR AC 7.4"

    class Interface(models.TextChoices):
        A = "A", _("RS485 A")
        B = "B", _("RS485 B")
        # An RS485-to-Ethernet serial server at the box (transparent Modbus RTU over TCP): the
        # line of a home reached over the network, as when one installation runs many plants.
        GATEWAY = "G", _("RS485 gateway (Modbus RTU over TCP)")

    class Rotation(models.TextChoices):
        L1L2L3 = "L1L2L3", "L1 / L2 / L3"
        L2L3L1 = "L2L3L1", "L2 / L3 / L1"
        L3L1L2 = "L3L1L2", "L3 / L1 / L2"

    class PhaseUsage(models.TextChoices):
        STANDARD = energy.PHASES_STANDARD, _("Standard (up to three phases)")
        SINGLE = energy.PHASES_SINGLE, _("Single-phase")
        AUTO = energy.PHASES_AUTO, _("Automatic")

    class Mode(models.TextChoices):
        LOCK = energy.LOCK, _("Lock Mode")
        POWER = energy.POWER, _("Power Mode")
        SOLAR_PURE = energy.SOLAR_PURE, _("Solar Pure Mode")
        SOLAR_PLUS = energy.SOLAR_PLUS, _("Solar Plus Mode")
        TIME_MODE = energy.TIME_MODE, _("Time Mode")

    class SolarPlusStart(models.TextChoices):
        MIN = "min", _("Min.")
        HALF = "50", "50 %"
        THREE_QUARTERS = "75", "75 %"
        MAX = "max", _("Max.")

    class Setup(models.TextChoices):
        DONE = "done", _("set up")
        PENDING = "pending", _("setup pending")

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="wallboxes")
    name = models.CharField(_("name"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.ENECTOR_11)
    interface = models.CharField(_("serial interface"), max_length=1, choices=Interface.choices)
    gateway_host = models.CharField(
        _("gateway host"),
        max_length=253,
        blank=True,
        validators=[validate_host],
        help_text=_(
            "Only with the RS485 gateway: the IP address or host name of the serial server the box is wired to "
            "(transparent Modbus RTU over TCP, 57600 baud 8N2 on its RS485 side)."
        ),
    )
    gateway_port = models.PositiveIntegerField(
        _("gateway port"),
        default=GATEWAY_PORT,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text=_("Only with the RS485 gateway: the TCP port of its serial server."),
    )
    address = models.PositiveSmallIntegerField(
        _("slave address"),
        default=energy.WALLBOX_ADDRESS,
        validators=[MinValueValidator(1), MaxValueValidator(247)],
        help_text=_("Given during setup: a new box answers at 50 and is moved to 100 (101, … for further boxes)."),
    )
    setup = models.CharField(_("setup"), max_length=8, choices=Setup.choices, default=Setup.DONE, editable=False)
    setup_message = models.CharField(_("setup message"), max_length=300, blank=True, editable=False)
    rotation = models.CharField(
        _("phase rotation of the wallbox"), max_length=6, choices=Rotation.choices, default=Rotation.L1L2L3
    )
    phase_usage = models.CharField(
        _("phases used"), max_length=8, choices=PhaseUsage.choices, default=PhaseUsage.STANDARD
    )
    mode = models.CharField(_("charging mode"), max_length=12, choices=Mode.choices, default=Mode.POWER)
    # WB-7, one setting per mode: on, the vehicle may drain the house battery down to its minimum
    # SoC; off, the battery only bridges the cloud hysteresis. Time Mode uses each hour's mode's.
    battery_use_power = models.BooleanField(
        _("use the house battery in Power Mode"),
        default=False,
        help_text=_("On: the vehicle may drain the house battery down to its minimum SoC."),
    )
    battery_use_solar_pure = models.BooleanField(
        _("use the house battery in Solar Pure Mode"),
        default=False,
        help_text=_("On: charging does not stop for lack of PV until the house battery reaches its minimum SoC."),
    )
    battery_use_solar_plus = models.BooleanField(
        _("use the house battery in Solar Plus Mode"),
        default=False,
        help_text=_("On: charging does not stop for lack of PV until the house battery reaches its minimum SoC."),
    )
    min_current_a = models.FloatField(
        _("minimum charging current (A)"),
        default=MIN_CURRENT_A,
        validators=[MinValueValidator(MIN_CURRENT_A), MaxValueValidator(MAX_MIN_CURRENT_A)],
        help_text=_("6-16 A per phase. Raise it if the box reports event 2011 (CP EV out of signaled duty range)."),
    )
    solar_plus_start = models.CharField(
        _("Solar Plus start charging power"), max_length=4, choices=SolarPlusStart.choices, default=SolarPlusStart.MIN
    )
    solar_plus_min_share_pct = models.FloatField(
        _("minimum solar share (%)"),
        default=50.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text=_("Solar Plus starts once this share of the start power is available as PV surplus."),
    )
    manual_pause = models.BooleanField(_("paused by a person"), default=False, editable=False)
    serial_number = models.CharField(_("serial number"), max_length=64, blank=True, editable=False)
    hardware_version = models.CharField(_("hardware version"), max_length=64, blank=True, editable=False)
    firmware_version = models.CharField(_("firmware version"), max_length=64, blank=True, editable=False)
    info_read_at = models.DateTimeField(_("info read"), null=True, blank=True, editable=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["plant", "position", "pk"]
        verbose_name = _("wallbox")
        verbose_name_plural = _("wallboxes")
        constraints = [
            models.UniqueConstraint(fields=["plant", "name"], name="wallbox_name_unique_per_plant"),
            models.UniqueConstraint(
                fields=["interface", "gateway_host", "gateway_port", "address"],
                condition=models.Q(setup="done"),
                name="wallbox_address_unique_per_line",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def battery_use(self) -> energy.BatteryUse:
        """The three WB-7 settings, as the cycle reads them."""
        return energy.BatteryUse(
            power=self.battery_use_power,
            solar_pure=self.battery_use_solar_pure,
            solar_plus=self.battery_use_solar_plus,
        )

    @property
    def max_phases(self) -> int:
        return energy.WALLBOX_LIMITS[self.type][0]

    @property
    def is_pending(self) -> bool:
        return self.setup == self.Setup.PENDING

    @property
    def bus_address(self) -> int:
        """Where the box answers now: 50 until the deferred move has happened."""
        return energy.WALLBOX_FACTORY_ADDRESS if self.is_pending else self.address

    @property
    def firmware_over_modbus(self) -> bool:
        """False for a box whose info was read without the vendor block (a real box): it has no
        firmware update over Modbus, so none is offered (issue 13.8)."""
        return self.info_read_at is None or bool(self.hardware_version)

    @property
    def line(self) -> str:
        """The RS485 line the box is on: ``A``, ``B``, or its gateway as ``host:port``."""
        if self.interface != self.Interface.GATEWAY:
            return self.interface
        host = f"[{self.gateway_host}]" if ":" in self.gateway_host else self.gateway_host
        return f"{host}:{self.gateway_port}"

    @property
    def address_text(self) -> str:
        return f"RS485 {line_name(self.line)} - {self.bus_address}"


def on_interface(line: str) -> bool:
    """Whether a line (:attr:`Wallbox.line`) is one of the installation's RS485 interfaces, not a gateway."""
    return line in (Wallbox.Interface.A, Wallbox.Interface.B)


def line_name(line: str) -> str:
    """A line as messages name it after "RS485": ``A``, ``B``, ``gateway host:port``."""
    return line if on_interface(line) else f"gateway {line}"


class TimeModeSchedule(models.Model):
    """The Time Mode week of a wallbox (WB-5): for each weekday (Monday first) 24 hourly modes."""

    wallbox = models.OneToOneField(Wallbox, on_delete=models.CASCADE, related_name="time_mode")
    days = models.JSONField(_("modes per weekday and hour"), default=default_time_mode, validators=[validate_time_mode])

    class Meta:
        verbose_name = _("Time Mode schedule")

    def __str__(self) -> str:
        return f"Time Mode of {self.wallbox}"


class MainsSettings(models.Model):
    """The grid connection (WB-8, WB-9): 1- or 3-phase, the smallest fuse in the path per phase,
    and the largest allowed difference between phase loads caused by charging."""

    class Phases(models.IntegerChoices):
        ONE = 1, _("1-phase grid connection")
        THREE = 3, _("3-phase grid connection")

    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="mains_settings")
    phases = models.PositiveSmallIntegerField(_("type of mains connection"), choices=Phases.choices, default=3)
    fuse_l1_a = models.FloatField(
        _("rated current L1 (A)"), default=35.0, validators=[MinValueValidator(6.0), MaxValueValidator(MAX_FUSE_A)]
    )
    fuse_l2_a = models.FloatField(
        _("rated current L2 (A)"), default=35.0, validators=[MinValueValidator(6.0), MaxValueValidator(MAX_FUSE_A)]
    )
    fuse_l3_a = models.FloatField(
        _("rated current L3 (A)"), default=35.0, validators=[MinValueValidator(6.0), MaxValueValidator(MAX_FUSE_A)]
    )
    unbalance_limit_va = models.FloatField(
        _("unbalanced load limit (VA)"),
        default=4600.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_UNBALANCE_VA)],
        help_text=_("4600 VA in Germany."),
    )

    class Meta:
        verbose_name = _("mains connection")
        verbose_name_plural = _("mains connections")

    def __str__(self) -> str:
        return f"mains connection of {self.plant}"

    @property
    def fuses_a(self) -> tuple[float, ...]:
        fuses = (self.fuse_l1_a, self.fuse_l2_a, self.fuse_l3_a)
        return fuses[: self.phases]

    @property
    def smallest_fuse_a(self) -> float:
        return min(self.fuses_a)


class ChargingSession(models.Model):
    """One vehicle plugged in, from plug to unplug: energy, the part of it from PV, and duration."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="charging_sessions")
    wallbox = models.ForeignKey(Wallbox, on_delete=models.SET_NULL, null=True, related_name="sessions")
    wallbox_name = models.CharField(_("wallbox"), max_length=100)
    started = models.DateTimeField(_("started"))
    ended = models.DateTimeField(_("ended"), null=True, blank=True)
    energy_wh = models.FloatField(_("energy (Wh)"), default=0.0)
    solar_wh = models.FloatField(_("from PV (Wh)"), default=0.0)
    charging_s = models.FloatField(_("time charging (s)"), default=0.0)

    class Meta:
        ordering = ["-started", "-pk"]
        verbose_name = _("charging session")
        indexes = [models.Index(fields=["plant", "-started"])]

    def __str__(self) -> str:
        return f"{self.wallbox_name} {self.started:%Y-%m-%d %H:%M}"

    @property
    def duration_s(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.ended else None

    @property
    def solar_share_pct(self) -> float | None:
        if self.energy_wh <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * self.solar_wh / self.energy_wh))


class PhaseSwitchEvent(models.Model):
    """One switch of the phases a box charges on (WB-12): written to ``phase_switching_log.txt``."""

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="phase_switches")
    wallbox = models.ForeignKey(Wallbox, on_delete=models.SET_NULL, null=True, related_name="phase_switches")
    wallbox_name = models.CharField(_("charging device"), max_length=100)
    time = models.DateTimeField(_("time"))
    vehicle = models.CharField(_("vehicle"), max_length=100, blank=True)
    phases = models.PositiveSmallIntegerField(_("phases selected"))

    class Meta:
        ordering = ["time", "pk"]
        verbose_name = _("phase switch")
        indexes = [models.Index(fields=["plant", "time"])]

    def __str__(self) -> str:
        return f"{self.wallbox_name} -> {self.phases} phase(s) at {self.time:%Y-%m-%d %H:%M:%S}"

    @property
    def usage_text(self) -> str:
        return "standard (3-phase)" if self.phases == 3 else "single-phase"


MIN_PLAN_KWH = 1.0
MAX_PLAN_KWH = 150.0
# A one-off departure at most this far ahead (the forecast and the day-ahead prices reach 36 h;
# beyond that the plan waits with what it knows).
MAX_PLAN_AHEAD_DAYS = 14


def validate_weekdays(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(day, int) and 0 <= day <= 6 for day in value):
        raise ValidationError(_("Weekdays are numbers from 0 (Monday) to 6 (Sunday)."))
    if len(set(value)) != len(value):
        raise ValidationError(_("Each weekday only once."))


class ChargingPlan(models.Model):
    """A car's charging plan at one box (issue 19.3): energy (or SoC) by a departure time, one-off
    or every given weekday. The controller is ``wallbox.plans``, the planner ``energy.chargeplan``."""

    class Repeat(models.TextChoices):
        ONCE = "once", _("once")
        WEEKLY = "weekly", _("weekly")

    wallbox = models.OneToOneField(Wallbox, on_delete=models.CASCADE, related_name="charging_plan")
    enabled = models.BooleanField(_("plan active"), default=True)
    target_kwh = models.FloatField(
        _("energy to charge (kWh)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_PLAN_KWH), MaxValueValidator(MAX_PLAN_KWH)],
        help_text=_("Counted from the moment the car was plugged in."),
    )
    target_soc_pct = models.FloatField(
        _("target state of charge (%)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1.0), MaxValueValidator(100.0)],
        help_text=_("Only where the car's state of charge is known; the ENECTOR does not report it."),
    )
    repeat = models.CharField(_("repeat"), max_length=6, choices=Repeat.choices, default=Repeat.ONCE)
    departure_at = models.DateTimeField(_("departure"), null=True, blank=True)
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True, validators=[validate_weekdays])
    departure_time = models.TimeField(_("departure time"), null=True, blank=True)
    updated = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("charging plan")

    def __str__(self) -> str:
        return f"charging plan of {self.wallbox}"

    def clean(self) -> None:
        from django.utils import timezone

        errors: dict[str, Any] = {}
        if self.target_soc_pct is not None:
            errors["target_soc_pct"] = _(
                "The car's state of charge is not known at this wallbox (the ENECTOR does not report it): "
                "give the energy to charge in kWh."
            )
        elif self.target_kwh is None:
            errors["target_kwh"] = _("Give the energy to charge in kWh.")
        if self.repeat == self.Repeat.ONCE:
            now = timezone.now()
            if self.departure_at is None:
                errors["departure_at"] = _("A one-off plan needs a departure date and time.")
            elif self.departure_at <= now:
                errors["departure_at"] = _("The departure lies in the past.")
            elif (self.departure_at - now).days >= MAX_PLAN_AHEAD_DAYS:
                errors["departure_at"] = _("The departure is more than %(days)d days ahead.") % {
                    "days": MAX_PLAN_AHEAD_DAYS
                }
        else:
            if not self.weekdays:
                errors["weekdays"] = _("A weekly plan needs at least one weekday.")
            if self.departure_time is None:
                errors["departure_time"] = _("A weekly plan needs a departure time.")
        if errors:
            raise ValidationError(errors)
