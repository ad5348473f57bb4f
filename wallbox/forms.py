"""Forms of the wallbox pages; every one runs the same rules as the API (``wallbox.rules``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from energy.config import WALLBOX_LIMITS
from wallbox import firmware, rules, setup
from wallbox.models import BATTERY_USE_FIELDS, GATEWAY_PORT, ChargingPlan, MainsSettings, Wallbox


def _check_rules(form: forms.ModelForm[Wallbox]) -> None:
    """Runs ``rules.check_wallbox`` after the model's own validation."""
    if form.errors:
        return
    try:
        rules.check_wallbox(form.instance)
    except ValidationError as error:
        form.add_error(None, error)


def _gateway_port_optional(form: forms.ModelForm[Wallbox]) -> None:
    """An empty gateway port is the usual one (the field is hidden unless the gateway is chosen)."""
    form.fields["gateway_port"].required = False


def _gateway_port(form: forms.ModelForm[Wallbox]) -> int:
    value = form.cleaned_data.get("gateway_port")
    return GATEWAY_PORT if value is None else int(value)


def _without_hidden_gateway(cleaned: dict[str, Any] | None) -> dict[str, Any]:
    """On RS485 A or B the page hides the gateway's fields, which still hold what was typed
    before: they are cleared, not refused (the API, where a client sends what it means, refuses)."""
    cleaned = cleaned if cleaned is not None else {}
    if cleaned.get("interface") != Wallbox.Interface.GATEWAY:
        cleaned["gateway_host"], cleaned["gateway_port"] = "", GATEWAY_PORT
    return cleaned


class WallboxAddForm(forms.ModelForm[Wallbox]):
    """Add a box: type, name, interface (with a gateway's host and port). Saving runs the setup on the line (WB-2)."""

    class Meta:
        model = Wallbox
        fields = ["type", "name", "interface", "gateway_host", "gateway_port"]

    def __init__(self, *args: Any, plant: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if plant is not None:
            self.instance.plant = plant
        self.setup_message = ""
        _gateway_port_optional(self)

    def clean_gateway_port(self) -> int:
        return _gateway_port(self)

    def clean(self) -> dict[str, Any]:
        return _without_hidden_gateway(super().clean())

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # runs the model's validation first
        if self.instance.type in WALLBOX_LIMITS and self.instance.max_phases == 1:
            self.instance.phase_usage = Wallbox.PhaseUsage.SINGLE
        _check_rules(self)
        if self.errors:
            return
        try:
            self.setup_message = setup.set_up(self.instance)
        except ValidationError as error:
            self.add_error(None, error)

    def save(self, commit: bool = True) -> Wallbox:
        if self.instance.pk is None:
            self.instance.position = rules.next_position(self.instance.plant)
        return super().save(commit)


class WallboxEditForm(forms.ModelForm[Wallbox]):
    """Name, interface (with a gateway's host and port), phase rotation, phases used, minimum current (installer)."""

    class Meta:
        model = Wallbox
        fields = ["name", "interface", "gateway_host", "gateway_port", "rotation", "phase_usage", "min_current_a"]
        widgets = {"rotation": forms.RadioSelect, "phase_usage": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _gateway_port_optional(self)

    def clean_gateway_port(self) -> int:
        return _gateway_port(self)

    def clean(self) -> dict[str, Any]:
        return _without_hidden_gateway(super().clean())

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        _check_rules(self)


class ChargingForm(forms.ModelForm[Wallbox]):
    """Mode, house battery use per mode and the Solar Plus settings (operators may change these)."""

    class Meta:
        model = Wallbox
        fields = ["mode", *BATTERY_USE_FIELDS, "solar_plus_start", "solar_plus_min_share_pct"]
        # Shown together under "Use the house battery", with one explanation for all three.
        labels = {
            "battery_use_power": _("in Power Mode"),
            "battery_use_solar_pure": _("in Solar Pure Mode"),
            "battery_use_solar_plus": _("in Solar Plus Mode"),
        }
        help_texts = dict.fromkeys(BATTERY_USE_FIELDS, "")
        widgets = {
            "mode": forms.RadioSelect,
            "solar_plus_start": forms.RadioSelect,
            "solar_plus_min_share_pct": forms.NumberInput(attrs={"type": "range", "min": 0, "max": 100, "step": 5}),
        }


class TimeModeForm(forms.Form):
    """The Time Mode week as the editor sends it: seven ``;``-separated days of 24 modes."""

    days = forms.CharField(widget=forms.HiddenInput, label=_("Time Mode"))

    def clean_days(self) -> list[list[str]]:
        try:
            return rules.parse_time_mode(self.cleaned_data["days"])
        except ValidationError as error:
            raise ValidationError(error.messages) from error


class MainsForm(forms.ModelForm[MainsSettings]):
    class Meta:
        model = MainsSettings
        fields = ["phases", "fuse_l1_a", "fuse_l2_a", "fuse_l3_a", "unbalance_limit_va"]
        widgets = {"phases": forms.RadioSelect}

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if not self.errors:
            try:
                rules.check_mains(self.instance)
            except ValidationError as error:
                self.add_error(None, error)


class FirmwareForm(forms.Form):
    firmware = forms.FileField(label=_("Firmware file"))

    def clean_firmware(self) -> bytes:
        upload = self.cleaned_data["firmware"]
        if upload.size is not None and upload.size > firmware.FIRMWARE_MAX_BYTES:
            raise ValidationError(_("The file is larger than 8 MB; that is no ENECTOR firmware."))
        data: bytes = upload.read()
        try:
            firmware.check_firmware(data)
        except ValidationError as error:
            raise ValidationError(error.messages) from error
        return data


WEEKDAY_CHOICES = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class ChargingPlanForm(forms.ModelForm[ChargingPlan]):
    """A box's charging plan (issue 19.3); the model's ``clean`` names the field of every error."""

    weekdays = forms.TypedMultipleChoiceField(
        label=_("weekdays"), choices=WEEKDAY_CHOICES, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ChargingPlan
        fields = ["enabled", "target_kwh", "repeat", "departure_at", "weekdays", "departure_time"]
        widgets = {
            "departure_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "departure_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
