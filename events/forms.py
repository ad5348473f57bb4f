"""The e-mail settings form; the API's serializer shares its checks (``events.validation``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from events import validation
from events.models import KIND_CHOICES, MailSettings


class MailSettingsForm(forms.ModelForm[MailSettings]):
    password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Empty: the stored password stays. Stored encrypted, never shown again."),
    )
    clear_password = forms.BooleanField(label=_("remove the stored password"), required=False)
    kinds = forms.MultipleChoiceField(
        label=_("event classes that send mail"),
        choices=KIND_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = MailSettings
        fields = ["enabled", "host", "port", "tls", "username", "sender", "recipients", "kinds", "max_per_hour"]
        widgets = {"recipients": forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})}

    def clean_host(self) -> str:
        return validation.check_host(self.cleaned_data.get("host") or "")

    def clean_recipients(self) -> str:
        return validation.check_addresses(self.cleaned_data.get("recipients") or "")

    def clean_kinds(self) -> list[str]:
        return validation.check_kinds(list(self.cleaned_data.get("kinds") or []))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        problems = validation.check_complete(
            bool(data.get("enabled")), data.get("host") or "", data.get("sender") or "", data.get("recipients") or ""
        )
        for name, problem in problems.items():
            if name not in self.errors:
                self.add_error(name, problem)
        return data

    def new_password(self) -> str | None:
        """``None`` keeps the stored one."""
        if self.cleaned_data.get("clear_password"):
            return ""
        return self.cleaned_data.get("password") or None
