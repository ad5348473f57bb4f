"""The device page's forms: the fields a person fills in, checked by :mod:`device.services` (the
same checks the API makes)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from device import services
from device.models import DeviceSettings


class _Checked(forms.Form):
    """A form whose cleaned data goes through a service check; its errors land on their fields."""

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            return self.check(data)
        except services.Invalid as invalid:
            for field, message in invalid.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return data


class NetworkForm(_Checked):
    host_name = forms.CharField(label=_("Host name"), max_length=63)
    addressing = forms.ChoiceField(
        label=_("Address"), choices=DeviceSettings.Addressing.choices, widget=forms.RadioSelect
    )
    address = forms.CharField(label=_("IP address"), required=False, max_length=15)
    netmask = forms.CharField(label=_("Netmask"), required=False, max_length=15, help_text=_("e.g. 255.255.255.0"))
    gateway = forms.CharField(label=_("Gateway"), required=False, max_length=15)
    dns = forms.CharField(
        label=_("DNS servers"),
        required=False,
        max_length=100,
        help_text=_("One or two addresses, separated by a space."),
    )
    upnp_enabled = forms.BooleanField(label=_("UPnP: let computers in the network find the device"), required=False)

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        return services.clean_network(data)


class TimeForm(_Checked):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=[])
    ntp_enabled = forms.BooleanField(label=_("Set the time from an NTP server"), required=False)
    ntp_server = forms.CharField(label=_("NTP server"), required=False, max_length=253)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        return services.clean_time(data)


class ResetForm(forms.Form):
    confirmation = forms.CharField(label=_("Type RESET or the serial number to confirm"), max_length=64, strip=True)

    def clean_confirmation(self) -> str:
        from device import reset

        typed = str(self.cleaned_data["confirmation"])
        if not reset.confirmation_matches(typed):
            raise forms.ValidationError(_("That is neither RESET nor this device's serial number; nothing was reset."))
        return typed


class RestartForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, restart every process of the product now"), required=True)


class LogPeriodForm(forms.Form):
    start = forms.DateTimeField(label=_("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(label=_("To"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    MAX_DAYS = 31

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
            if end <= start:
                self.add_error("end", _("The end must be after the start."))
            elif end - start > dt.timedelta(days=self.MAX_DAYS):
                self.add_error("end", _("At most %(days)d days at a time.") % {"days": self.MAX_DAYS})
        return data
