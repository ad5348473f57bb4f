"""Boxes on RS485 gateways (a serial server at the box, Modbus RTU over TCP): how many plants of
one installation each get a wallbox on a line of their own. Set up over the API through the
gateway, each plant's cycle reads and drives its own box at the same address 100 as the
neighbour's, and a bad gateway is refused with a message naming the field, storing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import Iterator

import pytest
from django.test import Client

from energy.counters import CounterState
from plant.config import load_config
from plant.cycle import PlantRuntime
from plant.models import Plant
from plant.options import WALLBOX, set_option
from plant.testing import RecordingPublisher
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from wallbox import rules
from wallbox.drivers import connect_wallbox
from wallbox.models import Wallbox
from wallbox.tests.conftest import CAR_3P
from wallbox.tests.test_line import Charge

pytestmark = pytest.mark.django_db
START = dt.datetime(2025, 6, 21, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def homes() -> Iterator[SimulatorHandle]:
    """Two homes' boxes, each on an RS485 line of its own behind its own serial server, both
    already set up at 100, a car plugged into each."""
    boxes = [{"name": name, "address": 100, "cars": [CAR_3P]} for name in ("home1", "home2")]
    scenario = scenario_from_dict({"battery": None, "pv_peak_w": 0, "inverters": [], "wallboxes": boxes})
    with run_simulator_in_thread(scenario=scenario, start=START, clock=False) as sim:
        yield sim


def on_gateway(plant: Plant, port: int, **fields: object) -> Wallbox:
    set_option(plant, WALLBOX)
    return Wallbox.objects.create(
        plant=plant,
        name="Carport",
        interface=Wallbox.Interface.GATEWAY,
        gateway_host="127.0.0.1",
        gateway_port=port,
        address=100,
        **fields,
    )


async def one_cycle_each(sim: SimulatorHandle, configs: list) -> list:
    runtimes = [
        PlantRuntime(config, CounterState(), RecordingPublisher(), (Charge(),), wallbox_factory=connect_wallbox)
        for config in configs
    ]
    try:
        for k in range(3):
            now = START + dt.timedelta(seconds=k + 1)
            sim.step(now)
            results = [await runtime.cycle(now) for runtime in runtimes]
    finally:
        for runtime in runtimes:
            await runtime.close()
    return [result.state.wallboxes[0] for result in results]


def test_two_plants_each_drive_their_own_box_at_100_through_their_own_gateway(homes: SimulatorHandle) -> None:
    first, second = Plant.objects.create(name="Home 1"), Plant.objects.create(name="Home 2")
    on_gateway(first, homes.ports["home1"])
    on_gateway(second, homes.ports["home2"])
    configs = [load_config(first.pk), load_config(second.pk)]
    assert [getattr(c.wallboxes[0].serial, "port", None) for c in configs] == [
        f"socket://127.0.0.1:{homes.ports['home1']}",
        f"socket://127.0.0.1:{homes.ports['home2']}",
    ]
    seen = asyncio.run(one_cycle_each(homes, configs))
    assert [box.state for box in seen] == ["charging", "charging"]
    # Each box heard only its own plant: every request on a line went to that line's one box.
    counters = homes.line_counters()
    assert {line: set(c["per_device"]) for line, c in counters.items() if c["requests"]} == {
        line: {line} for line in ("home1", "home2")
    }
    assert all(c["collisions"] == 0 and c["crc_errors"] == 0 for c in counters.values())
    # The same address on two gateways is no clash; a second box on one gateway gets 101.
    assert rules.next_address(Wallbox.objects.get(plant=first).line) == 101
    assert rules.next_address("A") == 100


def test_a_new_box_is_set_up_through_its_gateway_over_the_api(client: Client, plant: Plant, sim_factory) -> None:
    from django.contrib.auth import get_user_model

    from portal.models import Membership

    sim = sim_factory(g={})  # a factory-new box at 50 behind a serial server
    user = get_user_model().objects.create_user("installer", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=Membership.Role.INSTALLER)
    client.force_login(user)
    body = {
        "name": "Carport",
        "type": "enector_11",
        "interface": "G",
        "gateway_host": "127.0.0.1",
        "gateway_port": sim.ports["g"],
    }
    response = client.post(f"/api/plants/{plant.pk}/wallboxes/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["interface"], created["gateway_port"], created["address"], created["setup"]) == (
        "G",
        sim.ports["g"],
        100,
        "done",
    )
    assert sim.model.wallbox_address("g") == 100
    assert Wallbox.objects.get().address_text == f"RS485 gateway 127.0.0.1:{sim.ports['g']} - 100"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"interface": "G"}, "gateway_host", "needs the gateway's IP address or host name"),
        ({"interface": "G", "gateway_host": "no host!"}, "gateway_host", "neither an IP address nor a host name"),
        ({"interface": "G", "gateway_host": "10.0.0.5", "gateway_port": 0}, "gateway_port", "greater than or equal"),
        ({"interface": "G", "gateway_host": "10.0.0.5", "gateway_port": 70000}, "gateway_port", "less than or equal"),
        ({"interface": "A", "gateway_host": "10.0.0.5"}, "gateway_host", "Only a box on an RS485 gateway"),
        ({"interface": "X"}, "interface", "valid choice"),
    ],
)
def test_a_bad_gateway_is_refused_naming_the_field_and_nothing_is_stored(
    installer: Client, plant: Plant, fields: dict, field: str, message: str
) -> None:
    kept = Wallbox.objects.create(plant=plant, name="Garage", interface="B", address=100)
    body = {"name": "Carport", "type": "enector_11", **fields}
    response = installer.post(f"/api/plants/{plant.pk}/wallboxes/", body, content_type="application/json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert list(Wallbox.objects.values_list("name", flat=True)) == ["Garage"]
    # The same on the existing box's edit page: the form names the field, the box keeps its line.
    # (On RS485 A or B the page hides the gateway's fields: what they still hold is cleared.)
    if fields["interface"] == "A":
        return
    page = installer.post(f"/wallbox/{kept.pk}/edit/", {"name": "Garage", "rotation": "L1L2L3",
                                                       "phase_usage": "standard", "min_current_a": "6", **fields})  # fmt: skip
    assert page.status_code == 200
    assert message in html.unescape(page.content.decode())
    kept.refresh_from_db()
    assert (kept.interface, kept.gateway_host) == ("B", "")


def test_the_page_forgets_a_hidden_gateway_when_the_box_moves_to_rs485_a(installer: Client, plant: Plant) -> None:
    box = Wallbox.objects.create(plant=plant, name="Garage", interface="G", gateway_host="10.0.0.5", address=100)
    form = {"name": "Garage", "rotation": "L1L2L3", "phase_usage": "standard", "min_current_a": "6"}
    page = installer.post(f"/wallbox/{box.pk}/edit/", {**form, "interface": "A", "gateway_host": "10.0.0.5",
                                                       "gateway_port": "4196"})  # fmt: skip
    assert page.status_code == 302
    box.refresh_from_db()
    assert (box.interface, box.gateway_host, box.gateway_port, box.line) == ("A", "", 502, "A")
