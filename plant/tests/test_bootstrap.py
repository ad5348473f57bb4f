"""``manage.py bootstrap`` as ``make run`` calls it: the first plant with the simulated plant's
wallboxes, already set up on the lines the simulator serves, and the wallbox option on."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from modbus.models import SerialInterface
from plant.models import Plant
from plant.options import WALLBOX, is_option_active
from simulator.scenario import load_scenario
from simulator.testing import run_simulator_in_thread
from tests.stack import free_port_block
from wallbox.models import Wallbox
from wallbox.services import read_info

pytestmark = pytest.mark.django_db

HOME = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "home.json"


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", "--meter", *args, stdout=out)
    return out.getvalue()


def scenario_file(tmp_path: Path, wallboxes: list[dict[str, Any]]) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"wallbox": None, "wallboxes": wallboxes}))
    return str(path)


def test_home_scenario_gives_the_first_plant_its_wallbox_set_up_and_reachable(settings: Any) -> None:
    base = free_port_block(1)
    settings.RS485_A_DEVICE = f"socket://127.0.0.1:{base + 1}"
    output = bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", str(base))

    plant = Plant.objects.get()
    assert is_option_active(plant, WALLBOX), "the wallbox menu shows at once"
    (box,) = Wallbox.objects.filter(plant=plant)
    assert (box.name, box.type, box.interface, box.address, box.setup) == ("Carport", "enector_11", "A", 100, "done")
    assert f"socket://127.0.0.1:{base + 1}: found there through KSEM_RS485_A" in output
    line = SerialInterface.objects.get(name="A")
    assert (line.enabled, line.held_by) == (False, "wallbox Carport"), "the Modbus settings show the line as held"

    # The simulator of `make run` on the same port base answers the box where the row says it is.
    with run_simulator_in_thread(scenario=load_scenario(HOME), wallbox_port_base=base):
        read_info(box)
    assert box.serial_number, "the box answered at RS485 A, address 100"


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", "21000")
    again = bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", "21000")
    assert "wallbox" not in again.lower()
    assert Wallbox.objects.count() == 1 and Plant.objects.count() == 1


def test_port_base_defaults_to_the_meter_port_plus_nine(settings: Any) -> None:
    settings.RS485_A_DEVICE = ""
    output = bootstrap("--meter-port", "16020", "--wallboxes-from", str(HOME))
    assert "serves it on socket://127.0.0.1:16030: set KSEM_RS485_A=socket://127.0.0.1:16030" in output


def test_two_boxes_take_rs485_a_and_b(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, [{"name": "east", "address": 100}, {"name": "west", "address": 101}])
    bootstrap("--wallboxes-from", path, "--wallbox-port-base", "21000")
    assert list(Wallbox.objects.values_list("name", "interface", "address")) == [("east", "A", 100), ("west", "B", 101)]


@pytest.mark.parametrize(
    ("wallboxes", "message"),
    [
        ([], "lists no wallboxes"),
        ([{"name": "new"}], "wallboxes[0].address is 50"),
        ([{"name": n, "address": 100} for n in ("a", "b", "c")], "lists 3 wallboxes"),
        ([{"name": "x", "type": "enector_99"}], "unknown type 'enector_99'"),
    ],
)
def test_a_scenario_that_cannot_be_set_up_is_refused_and_creates_nothing(
    tmp_path: Path, wallboxes: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(CommandError, match="--wallboxes-from: .*" + re.escape(message)):
        bootstrap("--wallboxes-from", scenario_file(tmp_path, wallboxes))
    assert not Plant.objects.exists() and not Wallbox.objects.exists()


def test_without_a_meter_no_wallboxes_are_added() -> None:
    out = io.StringIO()
    call_command("bootstrap", "--no-meter", "--wallboxes-from", str(HOME), stdout=out)
    plant = Plant.objects.get()
    assert not Wallbox.objects.exists() and not is_option_active(plant, WALLBOX)
