"""What the grid operator's limits (LPC, LPP) need stored per plant, and their history (SG-1..SG-3).

``GridLimits`` holds the facts the state machine (:mod:`energy.gridlimit`) is a function of:
the failsafe values and nominal maxima, the last heartbeat, and per direction its state, since
when, the first heartbeat since then and the limit as last written. ``GridLimitEntry`` is the
history, a ring of at most 10,000 entries per plant.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from energy import gridlimit

STATE_CHOICES = [
    (gridlimit.INIT, _("init")),
    (gridlimit.UNLIMITED_CONTROLLED, _("unlimited/controlled")),
    (gridlimit.LIMITED, _("limited")),
    (gridlimit.FAILSAFE, _("failsafe")),
    (gridlimit.UNLIMITED_AUTONOMOUS, _("unlimited/autonomous")),
]
MAX_POWER_W = 1_000_000.0


class GridLimits(models.Model):
    plant = models.OneToOneField("plant.Plant", on_delete=models.CASCADE, related_name="grid_limits")
    enabled = models.BooleanField(
        _("controlled by the grid operator (EEBus LPC/LPP)"),
        default=False,
        help_text=_("On once a control box of the grid operator is coupled; off: no grid-operator limits apply."),
    )
    failsafe_consumption_w = models.FloatField(
        _("failsafe consumption limit (W)"),
        default=gridlimit.DEFAULT_FAILSAFE_W,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_POWER_W)],
    )
    failsafe_production_w = models.FloatField(
        _("failsafe production limit (W)"),
        default=gridlimit.DEFAULT_FAILSAFE_W,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_POWER_W)],
    )
    failsafe_duration_s = models.FloatField(
        _("failsafe duration (s)"),
        default=gridlimit.DEFAULT_FAILSAFE_DURATION_S,
        validators=[
            MinValueValidator(gridlimit.FAILSAFE_DURATION_MIN_S),
            MaxValueValidator(gridlimit.FAILSAFE_DURATION_MAX_S),
        ],
        help_text=_("2 h to 24 h."),
    )
    consumption_nominal_max_w = models.FloatField(
        _("contractual consumption nominal max (W)"),
        default=gridlimit.DEFAULT_CONSUMPTION_NOMINAL_MAX_W,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_POWER_W)],
    )
    production_nominal_max_w = models.FloatField(
        _("contractual production nominal max (W)"),
        default=gridlimit.DEFAULT_PRODUCTION_NOMINAL_MAX_W,
        validators=[MinValueValidator(0.0), MaxValueValidator(MAX_POWER_W)],
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_peer = models.CharField(max_length=64, blank=True, default="")
    last_heartbeat_counter = models.BigIntegerField(null=True, blank=True)
    # Per direction: the state machine's facts (see energy.gridlimit.Machine).
    lpc_state = models.CharField(max_length=24, choices=STATE_CHOICES, default=gridlimit.INIT)
    lpc_since = models.DateTimeField(null=True, blank=True)
    lpc_heard_at = models.DateTimeField(null=True, blank=True)
    lpc_limit_active = models.BooleanField(null=True, blank=True)
    lpc_limit_w = models.FloatField(null=True, blank=True)
    lpc_written_at = models.DateTimeField(null=True, blank=True)
    lpc_duration_s = models.FloatField(null=True, blank=True)
    lpp_state = models.CharField(max_length=24, choices=STATE_CHOICES, default=gridlimit.INIT)
    lpp_since = models.DateTimeField(null=True, blank=True)
    lpp_heard_at = models.DateTimeField(null=True, blank=True)
    lpp_limit_active = models.BooleanField(null=True, blank=True)
    lpp_limit_w = models.FloatField(null=True, blank=True)
    lpp_written_at = models.DateTimeField(null=True, blank=True)
    lpp_duration_s = models.FloatField(null=True, blank=True)
    # Who last wrote a limit or a failsafe value (the peer's SKI), for the page.
    last_writer = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("grid-operator limits")
        verbose_name_plural = _("grid-operator limits")

    def __str__(self) -> str:
        return f"grid-operator limits of plant {self.plant_id}"


class GridLimitEntry(models.Model):
    class Kind(models.TextChoices):
        UNLIMITED = gridlimit.UNLIMITED, _("unlimited")
        LIMITED = gridlimit.LIMITED_KIND, _("limited")
        FAILSAFE = gridlimit.FAILSAFE_KIND, _("limited with failsafe value")

    class Direction(models.TextChoices):
        CONSUME = gridlimit.CONSUME, _("consumption (LPC)")
        PRODUCE = gridlimit.PRODUCE, _("production (LPP)")

    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="grid_limit_entries")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    value_w = models.FloatField(null=True, blank=True)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["plant", "-id"])]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} from {self.valid_from:%Y-%m-%d %H:%M:%S}"


from smartgrid.eebus.models import EebusPeer  # noqa: E402, F401  (EEBus peers and trust per plant, SG-4)
