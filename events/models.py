"""The device's event log (DEV-3) and the e-mail settings that mail chosen event classes.

``Event`` is one thing that happened: a device went offline or came back, the grid operator's
limit arrived or ended, curtailment began, a wallbox reported an error code, a login address
was locked out, a backup or an update finished. ``plant`` is empty for events of the device as
a whole. ``key`` makes recording idempotent: an outage has one key, so it is one event (and at
most one mail) however often it is reported. ``MailSettings`` is one row (pk 1).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

DEVICE_OFFLINE = "device_offline"
DEVICE_ONLINE = "device_online"
GRID_LIMIT_RECEIVED = "grid_limit_received"
GRID_LIMIT_ENDED = "grid_limit_ended"
CURTAILMENT = "curtailment_active"
WALLBOX_ERROR = "wallbox_error"
LOGIN_LOCKOUT = "login_lockout"
BACKUP_RESULT = "backup_result"
UPDATE_RESULT = "update_result"

KIND_CHOICES = [
    (DEVICE_OFFLINE, _("device offline")),
    (DEVICE_ONLINE, _("device back online")),
    (GRID_LIMIT_RECEIVED, _("grid limit received")),
    (GRID_LIMIT_ENDED, _("grid limit ended")),
    (CURTAILMENT, _("curtailment active")),
    (WALLBOX_ERROR, _("wallbox error")),
    (LOGIN_LOCKOUT, _("login lock-out")),
    (BACKUP_RESULT, _("backup result")),
    (UPDATE_RESULT, _("update result")),
]
KINDS = tuple(kind for kind, _label in KIND_CHOICES)

INFO = "info"
WARNING = "warning"
ERROR = "error"
SEVERITY_CHOICES = [(INFO, _("information")), (WARNING, _("warning")), (ERROR, _("error"))]
SEVERITIES = (INFO, WARNING, ERROR)

# The mail of an event: not wanted, waiting for the task, sent, given up, or held back by the rate limit.
MAIL_NONE = ""
MAIL_PENDING = "pending"
MAIL_SENDING = "sending"
MAIL_SENT = "sent"
MAIL_FAILED = "failed"
MAIL_RATE_LIMITED = "rate_limited"
MAIL_CHOICES = [
    (MAIL_NONE, _("not mailed")),
    (MAIL_PENDING, _("waiting")),
    (MAIL_SENDING, _("sending")),
    (MAIL_SENT, _("sent")),
    (MAIL_FAILED, _("failed")),
    (MAIL_RATE_LIMITED, _("held back (rate limit)")),
]

TLS_NONE = "none"
TLS_STARTTLS = "starttls"
TLS_IMPLICIT = "tls"
TLS_CHOICES = [(TLS_NONE, _("none")), (TLS_STARTTLS, _("STARTTLS")), (TLS_IMPLICIT, _("TLS (implicit, port 465)"))]


class Event(models.Model):
    time = models.DateTimeField(_("time"), db_index=True)
    # The (plant, -time) index below serves a plant's events and the retention: no index of its own.
    plant = models.ForeignKey(
        "plant.Plant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("plant"),
        db_index=False,
    )
    kind = models.CharField(_("class"), max_length=32, choices=KIND_CHOICES)
    severity = models.CharField(_("severity"), max_length=8, choices=SEVERITY_CHOICES, default=INFO)
    source = models.CharField(_("source"), max_length=100, blank=True)
    message = models.CharField(_("message"), max_length=500)
    # The message's wording before its values were put in (a msgid of the translations) and those
    # values: the page shows the event in the reader's language. Empty for a message made whole.
    text = models.CharField(max_length=200, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, blank=True)
    mail_state = models.CharField(max_length=16, choices=MAIL_CHOICES, blank=True, default=MAIL_NONE)
    mail_error = models.CharField(max_length=500, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["plant", "-time"]), models.Index(fields=["kind", "-time"])]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=~models.Q(key=""), name="events_event_unique_key")
        ]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"

    @property
    def localized_message(self) -> str:
        """The message in the active language; the stored English one where no wording is kept."""
        return localize(self.text, self.params, self.message)


def localize(text: str, params: dict, fallback: str) -> str:
    if not text:
        return fallback
    try:
        return gettext(text) % params
    except (KeyError, TypeError, ValueError):  # a translation whose placeholders do not fit
        return fallback


class MailSettings(models.Model):
    enabled = models.BooleanField(_("send e-mail for events"), default=False)
    host = models.CharField(_("SMTP server"), max_length=253, blank=True)
    port = models.PositiveIntegerField(
        _("port"), default=587, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    tls = models.CharField(_("encryption"), max_length=8, choices=TLS_CHOICES, default=TLS_STARTTLS)
    username = models.CharField(_("user"), max_length=254, blank=True, help_text=_("Empty: no authentication."))
    password_encrypted = models.TextField(blank=True, editable=False)
    sender = models.EmailField(_("sender address"), blank=True)
    recipients = models.TextField(_("recipients"), blank=True, help_text=_("One address per line or comma-separated."))
    kinds = models.JSONField(_("event classes that send mail"), default=list, blank=True)
    max_per_hour = models.PositiveIntegerField(
        _("at most mails per hour"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Further events of that hour are logged but not mailed."),
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("e-mail settings")
        verbose_name_plural = _("e-mail settings")

    def __str__(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def recipient_list(self) -> list[str]:
        return split_addresses(self.recipients)


def split_addresses(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
