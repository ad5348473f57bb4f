"""Access tokens for third-party apps and scripts (ACC-2).

Only a SHA-256 hash of the secret is stored: the secret carries 256 random bits, so a fast hash
is enough (a slow password hash would cost every API request dearly for nothing). The short
public ``prefix`` finds the row without scanning; the hash comparison decides.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccessToken(models.Model):
    class Role(models.TextChoices):
        API = "api", _("api: read measurement data")
        ADMIN = "admin", _("admin: everything an installer may do")

    name = models.CharField(_("name"), max_length=64, unique=True)
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    prefix = models.CharField(max_length=8, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    expires_on = models.DateField(_("expiry date"), help_text=_("The token works up to and including this day (UTC)."))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="access_tokens",
        help_text=_("The installer the token acts for."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    authorised = models.BooleanField(_("authorised"), default=False)
    authorised_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, today: dt.date | None = None) -> bool:
        return (today or timezone.now().date()) > self.expires_on

    @property
    def state(self) -> str:
        """One word for lists and the API: revoked, expired, pending (not authorised) or active."""
        if self.revoked:
            return "revoked"
        if self.expired():
            return "expired"
        if not self.authorised:
            return "pending"
        return "active"
