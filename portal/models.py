"""People and their role on each plant (ACC-4)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Membership(models.Model):
    """A person's role on one plant. The device account and superusers need none: they are
    installers everywhere."""

    class Role(models.TextChoices):
        INSTALLER = "installer", _("Installer")
        OPERATOR = "operator", _("Operator")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    plant = models.ForeignKey("plant.Plant", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "plant"], name="one_role_per_plant")]
        verbose_name = _("membership")

    def __str__(self) -> str:
        return f"{self.user} · {self.plant_id} · {self.role}"
