"""Password rules beyond Django's length check (ACC-1): upper and lower case mixed."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class MixedCaseValidator:
    """At least one upper-case and one lower-case letter."""

    def validate(self, password: str, user: Any = None) -> None:
        if not any(c.isupper() for c in password) or not any(c.islower() for c in password):
            raise ValidationError(
                _("The password must mix upper-case and lower-case letters."), code="password_not_mixed_case"
            )

    def get_help_text(self) -> str:
        return _("Your password must contain upper-case and lower-case letters.")
