"""The update setting and what was installed (DEV-4)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class UpdateSettings(models.Model):
    """One row (pk 1): how the device updates and what the last check found."""

    class Mode(models.TextChoices):
        AUTOMATIC = "automatic", _("Automatic: install new versions when they appear")
        NOTIFY = "notify", _("Notify: show that a new version is available")
        MANUAL = "manual", _("Manual: only packages uploaded here")

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.NOTIFY)
    checked_at = models.DateTimeField(null=True, blank=True)
    check_error = models.CharField(max_length=500, blank=True, default="")
    available_version = models.CharField(max_length=32, blank=True, default="")
    available_file = models.CharField(max_length=200, blank=True, default="")
    job_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("update settings")

    def __str__(self) -> str:
        return f"updates: {self.mode}"

    @classmethod
    def load(cls) -> UpdateSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class UpdateRecord(models.Model):
    """One installed release: which version, from where, by whom, when."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("uploaded")
        AUTOMATIC = "automatic", _("automatic")
        SOURCE = "source", _("from the update source")

    version = models.CharField(max_length=32)
    previous_version = models.CharField(max_length=32)
    source = models.CharField(max_length=16, choices=Source.choices)
    installed_by = models.CharField(max_length=150, blank=True, default="")
    installed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-installed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.previous_version} -> {self.version}"
