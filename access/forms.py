from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access import services
from access.models import AccessToken


class NewTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=services.NAME_MAX_LENGTH, help_text=_("e.g. the app or script"))
    role = forms.ChoiceField(label=_("Role"), choices=AccessToken.Role.choices, widget=forms.RadioSelect)
    expires_on = forms.DateField(
        label=_("Expiry date"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The token works up to and including this day (UTC)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = timezone.now().date() + dt.timedelta(days=365)
        self.fields["role"].initial = AccessToken.Role.API

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            if "name" in data:
                data["name"] = services.clean_name(data["name"])
            if "expires_on" in data:
                services.clean_expiry(data["expires_on"])
        except services.TokenError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return data
