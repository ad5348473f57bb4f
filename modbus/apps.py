from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModbusConfig(AppConfig):
    name = "modbus"
    verbose_name = _("Modbus interfaces")

    def ready(self) -> None:
        from modbus import handover

        handover.connect()
