"""An inverter on RS485 takes the line from the Modbus settings (DEV-5): disabled there and shown
as held by the inverter; free again when the inverter leaves it."""

from __future__ import annotations

import pytest

from inverters.models import Inverter
from modbus.models import SerialInterface
from modbus.services import load_slave_config, serial_interfaces
from plant.models import Plant

pytestmark = pytest.mark.django_db


def line(name: str) -> SerialInterface:
    return SerialInterface.objects.get(name=name)


def test_an_rs485_inverter_holds_its_line_and_frees_it_when_it_goes():
    serial_interfaces()
    SerialInterface.objects.filter(name="B").update(enabled=True, device="/dev/ttyUSB1")
    plant = Plant.objects.create(name="Home")
    inverter = Inverter.objects.create(
        plant=plant, name="MP", type=Inverter.Type.PIKO_MP_PLUS, max_ac_w=4600, interface="B", address=5
    )
    assert (line("B").held_by, line("B").enabled) == ("inverter MP", False)
    assert line("A").held_by == ""
    assert all(port.name != "B" for port in load_slave_config().serial), "a held line is not served here"
    inverter.interface = "A"
    inverter.save()
    assert (line("A").held_by, line("B").held_by) == ("inverter MP", "")
    inverter.delete()
    assert line("A").held_by == ""


def test_a_line_held_by_another_application_is_left_alone():
    serial_interfaces()
    SerialInterface.objects.filter(name="A").update(held_by="wallbox carport")
    plant = Plant.objects.create(name="Home")
    Inverter.objects.create(plant=plant, name="Roof", type=Inverter.Type.PLENTICORE, max_ac_w=8500, host="10.0.0.2")
    assert line("A").held_by == "wallbox carport"
