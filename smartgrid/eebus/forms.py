"""The connections page's inputs, validated where they enter (SKI = 40 hex digits after normalising)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from smartgrid.eebus import store
from smartgrid.eebus.ski import SkiError, normalise_ski

DEFAULT_PEER_PORT = 4712


class SkiField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("SKI"))
        kwargs.setdefault("max_length", 120)
        kwargs.setdefault("help_text", _("40 hexadecimal digits; spaces, dashes and colons are ignored."))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            return normalise_ski(text)
        except SkiError as exc:
            raise forms.ValidationError(str(exc)) from None


class SkiForm(forms.Form):
    ski = SkiField()


class NewConnectionForm(forms.Form):
    host = forms.CharField(label=_("Host"), max_length=255, help_text=_("Host name or IP address of the device."))
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, initial=DEFAULT_PEER_PORT)
    ski = SkiField()

    def clean_host(self) -> str:
        try:
            return store.validate_host(self.cleaned_data["host"])
        except store.PeerError as exc:
            raise forms.ValidationError(str(exc)) from None
