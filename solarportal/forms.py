"""The uplink settings form (the page) and the portal's registration form; the API shares the checks."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from portal.activation import normalise_serial
from solarportal import services

CREDENTIAL_MIN = 16
CREDENTIAL_MAX = 128


def check_credential(value: str) -> str:
    if value and not CREDENTIAL_MIN <= len(value) <= CREDENTIAL_MAX:
        raise ValidationError(
            _("The credential has %(low)d to %(high)d characters."),
            params={"low": CREDENTIAL_MIN, "high": CREDENTIAL_MAX},
        )
    if value and not value.isprintable():
        raise ValidationError(_("The credential has characters that cannot be typed."))
    return value


class UplinkForm(forms.Form):
    enabled = forms.BooleanField(label=_("Activate solar portal"), required=False)
    endpoint_url = forms.CharField(
        label=_("Portal endpoint URL"),
        required=False,
        max_length=500,
        help_text=_("https://… of the portal; http:// only to this machine (127.0.0.1), not in production."),
    )
    credential = forms.CharField(
        label=_("Credential"),
        required=False,
        strip=False,
        max_length=CREDENTIAL_MAX,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Issued by the portal for this plant. Empty: the stored one stays. Stored encrypted."),
    )

    def __init__(self, *args: Any, credential_set: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credential_set = credential_set

    def clean_endpoint_url(self) -> str:
        try:
            return services.check_endpoint(self.cleaned_data.get("endpoint_url") or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def clean_credential(self) -> str:
        return check_credential(self.cleaned_data.get("credential") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("enabled") and "endpoint_url" in data and "credential" in data:
            problem = services.missing_for_on(data["endpoint_url"], bool(data["credential"]) or self.credential_set)
            if problem:
                raise ValidationError(problem)
        return data

    def new_credential(self) -> str | None:
        """None keeps the stored one."""
        return self.cleaned_data.get("credential") or None


class RegisterForm(forms.Form):
    serial_number = forms.CharField(label=_("Serial number"), max_length=32)
    article_number = forms.CharField(label=_("Article number"), max_length=32, required=False)
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    credential = forms.CharField(
        label=_("Credential"),
        required=False,
        strip=False,
        max_length=CREDENTIAL_MAX,
        help_text=_("Empty: a new one is generated and shown once."),
    )

    def clean_serial_number(self) -> str:
        try:
            return normalise_serial(self.cleaned_data["serial_number"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def clean_credential(self) -> str:
        return check_credential(self.cleaned_data.get("credential") or "")
