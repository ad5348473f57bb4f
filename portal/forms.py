"""Login with the device password only, like the KSEM (ACC-1)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.services import (
    DEVICE_USERNAME,
    clear_login_failures,
    client_address,
    login_locked_for_s,
    record_login_failure,
)


class DevicePasswordForm(forms.Form):
    """Drop-in for Django's AuthenticationForm (same constructor and ``get_user``) without a user name."""

    password = forms.CharField(
        label=_("Device password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    # ModelBackend already refuses inactive users, so one message covers every refusal.
    error_messages = {
        "invalid_login": _("Wrong device password. Please check it and try again."),
        "locked": _("Too many wrong passwords from this device. Try again in %(minutes)d minutes."),
    }

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: AbstractBaseUser | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if not password:
            return cleaned
        client = client_address(self.request) if self.request else "unknown"
        locked_s = login_locked_for_s(client)
        if locked_s:
            # The password is not even checked while locked, so guessing on gains nothing.
            minutes = -(-locked_s // 60)
            raise forms.ValidationError(self.error_messages["locked"], code="locked", params={"minutes": minutes})
        self.user_cache = authenticate(self.request, username=DEVICE_USERNAME, password=password)
        if self.user_cache is None:
            record_login_failure(client)
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        clear_login_failures(client)
        return cleaned

    def get_user(self) -> AbstractBaseUser | None:
        return self.user_cache
