"""Forms of the inverter pages and of the plant's power settings.

Every form runs the same rules as the API (``inverters.services``); an inverter form also runs
detection (``inverters.detection``: a job in the worker, waited for), so a device that does not
answer is never saved (INV-2).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from inverters import detection, services
from inverters.models import Battery, Inverter, PowerSettings


class InverterForm(forms.ModelForm[Inverter]):
    """Add or edit an inverter of ``plant``; saves only after the device answered."""

    power_class = forms.ChoiceField(label=_("Type/power class"), required=False)
    max_ac_w = forms.FloatField(
        label=_("Maximum AC output power (W)"),
        required=False,
        min_value=1.0,
        help_text=_("Filled in from the type/power class; change it if the inverter is set to deliver less."),
    )

    class Meta:
        model = Inverter
        fields = [
            "name", "type", "power_class", "max_ac_w", "host", "port", "unit_id", "interface", "address",
            "timeout_s", "with_battery",
        ]  # fmt: skip

    def __init__(self, *args: Any, plant: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if plant is not None:
            self.instance.plant = plant
        power_class = self.fields["power_class"]
        assert isinstance(power_class, forms.ChoiceField)
        power_class.choices = services.all_power_class_choices()
        self.fields["interface"].required = False
        self.fields["host"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("max_ac_w") is None and "max_ac_w" not in self.errors:
            classes = services.power_classes(data.get("type") or "")
            if data.get("power_class") in classes:
                data["max_ac_w"] = classes[data["power_class"]]
            else:
                self.add_error("max_ac_w", _("Choose a type/power class or enter the maximum AC output power."))
        return data

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # runs the model's validation first
        if self.errors:
            return
        try:
            services.check_inverter(self.instance)
        except ValidationError as error:
            self.add_error(None, error)
            return
        try:
            detection.detect_and_store(self.instance)  # a job in the worker; this waits for it
        except detection.DetectionError as error:
            self.add_error(None, error)

    def save(self, commit: bool = True) -> Inverter:
        if self.instance.pk is None:
            self.instance.position = services.next_position(self.instance.plant)
        return super().save(commit)


class BatteryForm(forms.ModelForm[Battery]):
    """The battery on a PIKO MP plus: capacity and power come from type and modules unless entered."""

    capacity_wh = forms.FloatField(label=_("Nominal capacity (Wh)"), required=False, min_value=100.0)
    max_charge_w = forms.FloatField(label=_("Maximum charging power (W)"), required=False, min_value=1.0)
    max_discharge_w = forms.FloatField(label=_("Maximum discharging power (W)"), required=False, min_value=1.0)

    class Meta:
        model = Battery
        fields = ["type", "modules", "capacity_wh", "max_charge_w", "max_discharge_w"]

    def __init__(self, *args: Any, inverter: Inverter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.inverter = inverter
        for name in ("capacity_wh", "max_charge_w", "max_discharge_w"):
            self.fields[name].help_text = _("Filled in from the battery type and number of modules when left empty.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("type") and data.get("modules"):
            try:
                defaults = services.battery_defaults(data["type"], data["modules"])
            except (KeyError, ValueError) as error:
                self.add_error("modules", str(error))
                return data
            for name, value in defaults.items():
                if data.get(name) is None:
                    data[name] = value
        return data

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # runs the model's validation first
        if not self.errors:
            try:
                services.check_battery(self.instance)
            except ValidationError as error:
                self.add_error(None, error)


class PowerSettingsForm(forms.ModelForm[PowerSettings]):
    """Feed-in limitation and battery management of one plant (INV-4, INV-5), as the overview shows them.

    ``PowerSettingsForm(plant=plant, data=request.POST or None)``; ``generator_power_w`` is the
    basis of a % limit, for the page's calculator.
    """

    class Meta:
        model = PowerSettings
        fields = [
            "feed_in_limit_enabled", "limit_mode", "limit_value", "algorithm",
            "battery_management_enabled", "min_soc_pct", "max_soc_pct", "grid_optimised", "full_by",
        ]  # fmt: skip
        widgets = {"limit_mode": forms.RadioSelect}

    def __init__(self, *args: Any, plant: Any, **kwargs: Any) -> None:
        kwargs.setdefault("instance", services.power_settings_of(plant))
        super().__init__(*args, **kwargs)
        self.plant = plant
        inverters = list(Inverter.objects.filter(plant=plant)) if plant.pk else []
        self.generator_power_w = services.generator_power_w(inverters)
        self.limit_w = self.instance.limit_w(self.generator_power_w)
        self.home_position = services.is_home_position(plant)
        self.monitored_only = [i.name for i in inverters if not i.controllable]
        self.battery_management_unlocked = self.instance.battery_management_unlocked
        # A form that leaves the deadline out (an older page, a script) keeps the stored one.
        self.fields["full_by"].required = False
        self.fields["limit_value"].help_text = _("In W, or in % of the generator power (the sum of the inverters' "
                                                 "maximum AC output power).")  # fmt: skip

    def clean_full_by(self) -> Any:
        value = self.cleaned_data.get("full_by")
        return value if value is not None else self.instance.full_by

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # runs the model's validation first
        if not self.errors:
            try:
                services.check_power_settings(self.instance)
            except ValidationError as error:
                self.add_error(None, error)
