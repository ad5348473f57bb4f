"""The activation codes page (ACT-1): the plant's serial number, its options and the code form."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from plant import options
from plant.models import PlantOption
from plant.services import current_plant
from portal import activation, guard, roles


class ActivationCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Activation code"),
        max_length=40,
        help_text=gettext_lazy("Ten digits, issued for this device's serial number."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


@login_required
@roles.require(roles.SETTINGS)
@require_http_methods(["GET", "POST"])
def activation_codes(request: HttpRequest) -> HttpResponse:
    plant = current_plant(request)
    form = ActivationCodeForm(request.POST or None)
    status = 200
    if plant is not None and request.method == "POST":
        if form.is_valid():
            try:
                option = options.activate(plant, form.cleaned_data["code"], guard.client_address(request))
            except activation.ActivationError as error:
                form.add_error("code", str(error))
            else:
                label = PlantOption.Option(option).label
                messages.success(request, _("Released: %(option)s.") % {"option": label})
                return redirect("plant:activation-codes")
        status = 400
    context = {
        "plant": plant,
        "rows": options.option_rows(plant) if plant else [],
        "form": form,
        "may_enter": plant is not None and roles.may_change(request.user, plant, roles.SETTINGS),
    }
    return render(request, "plant/activation_codes.html", context, status=status)
