from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeviceConfig(AppConfig):
    name = "device"
    verbose_name = _("Device settings")

    def ready(self) -> None:
        from device import reset

        reset.register_kinds()
