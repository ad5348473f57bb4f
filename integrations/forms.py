"""The MQTT settings form of the page; the API's serializer shares its checks (``check_ca``)."""

from __future__ import annotations

import ssl
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from integrations.config import valid_host
from integrations.models import MqttSettings


def check_ca(pem: str) -> str:
    """The CA certificate as PEM, or a ValidationError saying it is none."""
    pem = pem.strip()
    if not pem:
        return ""
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ValidationError(_("This is not a PEM CA certificate (%(error)s).") % {"error": exc}) from None
    return pem


class MqttSettingsForm(forms.ModelForm[MqttSettings]):
    password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Empty: the stored password stays. Stored encrypted."),
    )
    clear_password = forms.BooleanField(label=_("remove the stored password"), required=False)

    class Meta:
        model = MqttSettings
        fields = ["enabled", "host", "port", "tls", "ca_certificate", "username", "prefix", "discovery",
                  "min_interval_s", "command_user"]  # fmt: skip
        widgets = {"ca_certificate": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["command_user"].queryset = users  # type: ignore[attr-defined]

    def clean_ca_certificate(self) -> str:
        return check_ca(self.cleaned_data.get("ca_certificate") or "")

    def clean_host(self) -> str:
        host = (self.cleaned_data.get("host") or "").strip()
        if not host or not valid_host(host):
            raise ValidationError(_("A host name or IP address, without scheme or port."))
        return host

    def new_password(self) -> str | None:
        """``None`` keeps the stored one."""
        if self.cleaned_data.get("clear_password"):
            return ""
        return self.cleaned_data.get("password") or None
