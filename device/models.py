"""The device's own settings (DEV-2, DEV-7): one row."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeviceSettings(models.Model):
    class Addressing(models.TextChoices):
        DHCP = "dhcp", _("automatic (DHCP)")
        STATIC = "static", _("static")

    host_name = models.CharField(_("host name"), max_length=63, blank=True)
    addressing = models.CharField(_("address"), max_length=6, choices=Addressing.choices, default=Addressing.DHCP)
    address = models.CharField(_("IP address"), max_length=15, blank=True)
    netmask = models.CharField(_("netmask"), max_length=15, blank=True)
    gateway = models.CharField(_("gateway"), max_length=15, blank=True)
    dns = models.JSONField(_("DNS servers"), default=list, blank=True)
    upnp_enabled = models.BooleanField(_("UPnP discovery"), default=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Berlin")
    ntp_enabled = models.BooleanField(_("time from NTP"), default=True)
    ntp_server = models.CharField(_("NTP server"), max_length=253, default="pool.ntp.org")
    clock_offset_s = models.FloatField(_("clock offset (s)"), default=0.0)
    network_saved_at = models.DateTimeField(null=True, blank=True)
    time_saved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("device settings")

    def __str__(self) -> str:
        return "device settings"

    @classmethod
    def load(cls) -> DeviceSettings:
        """The stored row, or the factory values (not stored until something is saved)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)
