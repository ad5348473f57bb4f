"""Login and logout pages (ACC-1)."""

from __future__ import annotations

from django.contrib.auth.views import LoginView

from portal.forms import DevicePasswordForm
from portal.services import DEVICE_USERNAME


class DeviceLoginView(LoginView):
    """Django's LoginView does the safe ``next`` handling; only the form differs."""

    form_class = DevicePasswordForm  # type: ignore[assignment]
    template_name = "portal/login.html"
    redirect_authenticated_user = True
    extra_context = {"device_username": DEVICE_USERNAME}
