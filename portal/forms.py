"""Login with the device password only, like the KSEM (ACC-1)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.services import DEVICE_USERNAME


class DevicePasswordForm(forms.Form):
    """Drop-in for Django's AuthenticationForm (same constructor and ``get_user``) without a user name."""

    password = forms.CharField(
        label=_("Device password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    # ModelBackend already refuses inactive users, so one message covers every refusal.
    error_messages = {"invalid_login": _("Wrong device password. Please check it and try again.")}

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: AbstractBaseUser | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            self.user_cache = authenticate(self.request, username=DEVICE_USERNAME, password=password)
            if self.user_cache is None:
                raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        return cleaned

    def get_user(self) -> AbstractBaseUser | None:
        return self.user_cache
