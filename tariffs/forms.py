"""Forms of the tariff pages: contract information, the working-price editor, dynamic prices (TAR-1)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tariffs.models import CURRENCIES, PriceSource
from tariffs.pricing import DAYS_PER_WEEK, HOURS_PER_DAY

MAX_PRICES = 12
MAX_ABS_PRICE = Decimal(1000)


class ContractForm(forms.Form):
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in CURRENCIES])
    time_zone = forms.CharField(label=_("Device time zone"), max_length=64)

    def clean_time_zone(self) -> str:
        value: str = self.cleaned_data["time_zone"].strip()
        if value not in zoneinfo.available_timezones():
            raise ValidationError(
                _("%(value)s is not a known time zone (e.g. Europe/Berlin)."), params={"value": value}
            )
        return value


def encode_grid(grid: list[list[int]]) -> str:
    return ";".join(",".join(str(i) for i in day) for day in grid)


class TariffVersionForm(forms.Form):
    """A new version of a tariff: when it takes effect, the basic charge, the working prices and the grid.

    The working prices come as lists ``price_name`` / ``price_value`` (in the order shown); the grid
    as seven ``;``-separated days of 24 comma-separated indexes into them, Monday first.
    """

    valid_from = forms.DateTimeField(
        label=_("Valid from"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Energy before this time keeps the prices that were in force then."),
    )
    basic_charge = forms.DecimalField(
        label=_("Monthly basic charge"), min_value=Decimal(0), max_digits=10, decimal_places=2, initial=Decimal(0)
    )
    grid = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, tz: zoneinfo.ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        self.price_rows: list[dict[str, str]] = []
        if self.data:
            names = (
                self.data.getlist("price_name") if hasattr(self.data, "getlist") else self.data.get("price_name", [])
            )
            values = (
                self.data.getlist("price_value") if hasattr(self.data, "getlist") else self.data.get("price_value", [])
            )
            self.price_rows = [{"name": n, "price": v} for n, v in zip(names, values, strict=False)]

    def clean_valid_from(self) -> dt.datetime:
        value: dt.datetime = self.cleaned_data["valid_from"]
        # The form shows and reads the plant's local time, whatever the server's zone.
        return timezone.make_aware(timezone.make_naive(value), self.tz) if timezone.is_aware(value) else value

    def clean_grid(self) -> list[list[int]]:
        text: str = self.cleaned_data["grid"]
        try:
            grid = [[int(cell) for cell in day.split(",")] for day in text.split(";")]
        except ValueError:
            raise ValidationError(_("The timetable could not be read.")) from None
        if len(grid) != DAYS_PER_WEEK or any(len(day) != HOURS_PER_DAY for day in grid):
            raise ValidationError(_("The timetable must cover 7 days of 24 hours."))
        return grid

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        names, prices = [], []
        if not self.price_rows:
            raise ValidationError(_("Enter at least one working price."))
        if len(self.price_rows) > MAX_PRICES:
            raise ValidationError(_("At most %(count)d working prices."), params={"count": MAX_PRICES})
        for number, row in enumerate(self.price_rows, start=1):
            try:
                price = Decimal(row["price"].strip().replace(",", "."))
            except InvalidOperation:
                price = None
            if price is None or not price.is_finite() or abs(price) > MAX_ABS_PRICE or price.as_tuple().exponent < -6:  # type: ignore[operator]
                raise ValidationError(
                    _("Working price %(number)d: %(value)s is not a price (up to 6 decimals)."),
                    params={"number": number, "value": row["price"] or "–"},
                )
            names.append(row["name"].strip()[:40] or str(_("Working price %(number)s") % {"number": number}))
            prices.append(price)
        grid = cleaned.get("grid")
        if grid is not None and any(index >= len(prices) for day in grid for index in day):
            self.add_error("grid", _("Every hour must have one of the working prices."))
        cleaned["names"], cleaned["prices"] = names, prices
        return cleaned


class PriceFileForm(forms.Form):
    file = forms.FileField(
        label=_("Price file (CSV)"), help_text=_("Columns start, end, price; one line per hour or quarter hour.")
    )


def _formfield(field: Any, **kwargs: Any) -> Any:
    if field.name == "url":
        kwargs["assume_scheme"] = "https"  # what Django 6 will assume; a local endpoint names http:// itself
    return field.formfield(**kwargs)


class PriceSourceForm(forms.ModelForm[PriceSource]):
    class Meta:
        model = PriceSource
        fields = ["url", "enabled"]
        formfield_callback = _formfield
