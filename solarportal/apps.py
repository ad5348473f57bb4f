from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SolarPortalConfig(AppConfig):
    name = "solarportal"
    verbose_name = _("Solar portal (uplink and receiver)")
