"""The MQTT bridge's settings: one row (pk 1), written by the page and the API."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from integrations.topics import PREFIX_PATTERN


class MqttSettings(models.Model):
    """Until this row exists, ``KSEM_MQTT_URL`` decides (``integrations.services.broker_config``)."""

    enabled = models.BooleanField(_("publish to an MQTT broker"), default=False)
    host = models.CharField(_("broker host"), max_length=253, default="127.0.0.1")
    port = models.PositiveIntegerField(
        _("port"), default=1883, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    tls = models.BooleanField(_("TLS"), default=False, help_text=_("Port 8883 on most brokers."))
    ca_certificate = models.TextField(
        _("CA certificate (PEM)"),
        blank=True,
        help_text=_("Empty: the system's trusted authorities."),
    )
    username = models.CharField(_("user"), max_length=128, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    prefix = models.CharField(
        _("topic prefix"),
        max_length=64,
        default="ksem",
        validators=[RegexValidator(PREFIX_PATTERN.pattern, _("Letters, digits, _ and -, levels separated by /."))],
    )
    discovery = models.BooleanField(_("Home Assistant discovery"), default=True)
    min_interval_s = models.FloatField(
        _("minimum interval (s)"),
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(3600.0)],
        help_text=_("0: every measurement cycle. Changed values only, the latest one wins."),
    )
    command_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("commands act as"),
        help_text=_("Commands over MQTT have this user's roles. Empty: commands are refused."),
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("MQTT settings")
        verbose_name_plural = _("MQTT settings")

    def __str__(self) -> str:
        return f"MQTT {self.host}:{self.port}"
