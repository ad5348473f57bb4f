"""``manage.py bootstrap_simulated`` as ``make run`` calls it: the first plant with the simulated plant's
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
from wallbox.setup import read_info

pytestmark = pytest.mark.django_db

HOME = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "home.json"


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap_simulated", "--meter", *args, stdout=out)
    return out.getvalue()


def scenario_file(tmp_path: Path, wallboxes: list[dict[str, Any]]) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"wallbox": None, "wallboxes": wallboxes}))
    return str(path)


def test_home_scenario_gives_the_first_plant_its_wallbox_set_up_and_reachable(settings: Any) -> None:
    base = free_port_block(1)
    settings.RS485_B_DEVICE = f"socket://127.0.0.1:{base + 1}"
    output = bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", str(base))

    plant = Plant.objects.get()
    assert is_option_active(plant, WALLBOX), "the wallbox menu shows at once"
    (box,) = Wallbox.objects.filter(plant=plant)
    assert (box.name, box.type, box.interface, box.address, box.setup) == ("Carport", "enector_11", "B", 100, "done")
    assert f"socket://127.0.0.1:{base + 1}: found there through KSEM_RS485_B" in output
    line = SerialInterface.objects.get(name="B")
    assert (line.enabled, line.held_by) == (False, "wallbox Carport"), "the Modbus settings show the line as held"
    # RS485 A keeps its factory preset, as the manual pre-configures it for the inverter.
    a = SerialInterface.objects.get(name="A")
    assert (a.enabled, a.held_by, a.preset, a.mode, a.address) == (True, "", "plenticore", "slave", 1)
    assert (a.baudrate, a.bytesize, a.parity, a.stopbits) == (38400, 8, "N", 2)

    # The simulator of `make run` on the same port base answers the box where the row says it is.
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - the device-job task, run here as the worker would

    app.conf.task_always_eager = True
    try:
        with run_simulator_in_thread(scenario=load_scenario(HOME), wallbox_port_base=base):
            read_info(box)
    finally:
        app.conf.task_always_eager = False
    assert box.serial_number, "the box answered at RS485 B, address 100"


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", "21000")
    again = bootstrap("--wallboxes-from", str(HOME), "--wallbox-port-base", "21000")
    assert "wallbox" not in again.lower()
    assert Wallbox.objects.count() == 1 and Plant.objects.count() == 1


def test_port_base_defaults_to_the_meter_port_plus_nine(settings: Any) -> None:
    settings.RS485_B_DEVICE = ""
    output = bootstrap("--meter-port", "16020", "--wallboxes-from", str(HOME))
    assert "serves RS485 B on socket://127.0.0.1:16030: set KSEM_RS485_B=socket://127.0.0.1:16030" in output


def test_two_boxes_share_rs485_b(tmp_path: Path) -> None:
    boxes = [{"name": "east", "address": 100, "line": "B"}, {"name": "west", "address": 101, "line": "B"}]
    bootstrap("--wallboxes-from", scenario_file(tmp_path, boxes), "--wallbox-port-base", "21000")
    assert list(Wallbox.objects.values_list("name", "interface", "address")) == [("east", "B", 100), ("west", "B", 101)]


@pytest.mark.parametrize(
    ("wallboxes", "message"),
    [
        ([], "lists no wallboxes"),
        ([{"name": "new"}], "wallboxes[0].address is 50"),
        ([{"name": n, "address": 100} for n in ("a", "b")], "must name one line"),
        ([{"name": n, "address": 100, "line": "B"} for n in ("a", "b")], "address 100 is also 'a'"),
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
    call_command("bootstrap_simulated", "--no-meter", "--wallboxes-from", str(HOME), stdout=out)
    plant = Plant.objects.get()
    assert not Wallbox.objects.exists() and not is_option_active(plant, WALLBOX)


def test_plants_option_creates_the_fleet_of_the_simulator_on_its_ports() -> None:
    from inverters.models import Inverter
    from meter.models import Meter

    out = bootstrap("--meter-port", "16020", "--inverters-from", str(HOME), "--plants", "3")
    assert "Created plant 'My plant 3' with its meter at 127.0.0.1:16060." in out
    assert [m.port for m in Meter.objects.order_by("plant_id")] == [16020, 16040, 16060]
    third = Plant.objects.get(name="My plant 3")
    home = load_scenario(HOME)
    assert [(i.name, i.port) for i in Inverter.objects.filter(plant=third).order_by("position")] == [
        (inverter.name, 16060 + n) for n, inverter in enumerate(home.inverters, start=1)
    ]
    assert not Wallbox.objects.filter(plant=third).exists(), "no --wallboxes-from, no boxes"
    bootstrap("--meter-port", "16020", "--inverters-from", str(HOME), "--plants", "3")
    assert Plant.objects.count() == 3, "a second run changes nothing"


def test_every_plant_of_the_fleet_gets_its_boxes_on_a_gateway_at_its_own_line(settings: Any) -> None:
    from simulator.fleet import plant_ports, plant_scenario

    base = free_port_block(3 * 20)
    settings.RS485_B_DEVICE = f"socket://127.0.0.1:{base + 1}"
    out = bootstrap("--meter-port", "16020", "--wallboxes-from", str(HOME), "--wallbox-port-base", str(base),
                    "--plants", "3")  # fmt: skip
    first = Wallbox.objects.get(plant__name="My plant")
    assert (first.interface, first.gateway_host) == ("B", ""), "the first plant keeps the installation's RS485 B"
    third = Wallbox.objects.get(plant__name="My plant 3")
    _meter, _inverters, line_base = plant_ports(2, 0, 0, base)
    assert (third.interface, third.gateway_host, third.gateway_port, third.address, third.setup) == (
        "G",
        "127.0.0.1",
        line_base + 1,
        100,
        "done",
    )
    assert f"on RS485 gateway 127.0.0.1:{line_base + 1}, address 100" in out
    assert is_option_active(third.plant, WALLBOX)
    assert SerialInterface.objects.get(name="B").held_by == "wallbox Carport", "a gateway holds no interface"
    # The simulator's plant 3 (``python -m simulator --plants 3``) answers the box where the row says.
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - the device-job task, run here as the worker would

    app.conf.task_always_eager = True
    try:
        with run_simulator_in_thread(scenario=plant_scenario(load_scenario(HOME), 0, 2), wallbox_port_base=line_base):
            read_info(third)
    finally:
        app.conf.task_always_eager = False
    assert third.serial_number, "the box answered through its gateway at address 100"


def test_plants_out_of_range_are_refused_and_nothing_is_created() -> None:
    with pytest.raises(CommandError, match="--plants: must be between 1 and 1000, got 0"):
        bootstrap("--plants", "0")
    assert not Plant.objects.exists()
