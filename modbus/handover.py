"""RS485 lines handed to devices (DEV-5, MB-3): an inverter or a wallbox on RS485 A or B takes the line
from the Modbus settings. The interface is then disabled here and shows which device holds it; when the
inverter leaves the line (deleted, or moved to the other one), the line is free again.

Wired with model signals, because the inverters app sits below this one and knows nothing of it.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from inverters.models import Inverter
from modbus.models import SerialInterface
from modbus.services import serial_interfaces
from wallbox.models import Wallbox

HOLDER_PREFIX = "inverter "
WALLBOX_HOLDER_PREFIX = "wallbox "


def holder_name(inverter: Inverter) -> str:
    return f"{HOLDER_PREFIX}{inverter.name}"


def sync_inverter_lines(**_kwargs: Any) -> None:
    """Hold each line an RS485 inverter uses, release lines no inverter uses any more."""
    used = {
        interface: holder_name(inverter)
        for inverter in Inverter.objects.filter(connection=Inverter.Connection.RS485).order_by("position", "pk")
        for interface in [inverter.interface]
        if interface
    }
    for line in serial_interfaces():
        holder = used.get(line.name, "")
        if holder and line.held_by != holder:
            SerialInterface.objects.filter(pk=line.pk).update(held_by=holder, enabled=False)
        elif not holder and line.held_by.startswith(HOLDER_PREFIX):
            SerialInterface.objects.filter(pk=line.pk).update(held_by="")


def sync_wallbox_lines(**_kwargs: Any) -> None:
    """The same for wallboxes (WB-2): a line holds the first box on it, is freed when none is left.
    A box on an RS485 gateway holds none of the installation's interfaces."""
    used: dict[str, str] = {}
    for box in Wallbox.objects.exclude(interface=Wallbox.Interface.GATEWAY).order_by("position", "pk"):
        used.setdefault(box.interface, f"{WALLBOX_HOLDER_PREFIX}{box.name}")
    for line in serial_interfaces():
        holder = used.get(line.name, "")
        if holder and line.held_by != holder and not line.held_by.startswith(HOLDER_PREFIX):
            SerialInterface.objects.filter(pk=line.pk).update(held_by=holder, enabled=False)
        elif not holder and line.held_by.startswith(WALLBOX_HOLDER_PREFIX):
            SerialInterface.objects.filter(pk=line.pk).update(held_by="")


def connect() -> None:
    post_save.connect(sync_wallbox_lines, sender=Wallbox, dispatch_uid="modbus-rs485-handover-wallbox-save")
    post_delete.connect(sync_wallbox_lines, sender=Wallbox, dispatch_uid="modbus-rs485-handover-wallbox-delete")
    post_save.connect(sync_inverter_lines, sender=Inverter, dispatch_uid="modbus-rs485-handover-save")
    post_delete.connect(sync_inverter_lines, sender=Inverter, dispatch_uid="modbus-rs485-handover-delete")
