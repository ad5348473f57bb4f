"""Development first start: ``bootstrap`` plus the simulated plant's inverters and wallboxes.

A production start runs plain ``bootstrap`` (which knows nothing of the simulator); ``make run``
and the compose stack run this one. Same arguments as ``bootstrap``, and with ``--meter`` (the
default unless ``KSEM_SIMULATOR=off``):

``--inverters-from`` gives the first plant the simulated plant's inverters, on the ports after the
meter's, as the simulator serves them (``--inverter-port-base``). ``--wallboxes-from`` switches
the wallbox option on and gives the first plant the scenario's simulated ENECTORs, already set
up, all on RS485 B (as in the manual's wallbox examples: B is held by the wallboxes and disabled
for Modbus, A keeps its factory preset for the inverter that reads the grid meter), each at the
address the scenario gives it (100, 101, ... for boxes that are already set up). The simulator
serves them on one line, Modbus RTU over TCP on ``--wallbox-port-base`` + 1; the line is found
through ``KSEM_RS485_B`` (``make run`` exports ``KSEM_RS485_B=socket://127.0.0.1:<port>``).

``--controlbox-dir`` (at every start, not only for a new plant): couples the first plant with the
simulated control box (``python -m simulator.controlbox``) by exchanging SKIs through files: the
box's certificate is created in that directory (its SKI in ``ski``), the plant's SKI goes into
its ``trusted`` file, and the plant gets the box as a trusted peer at 127.0.0.1:``--controlbox-port``,
which ``serve_eebus`` dials; so the connections page shows a live connection from the first start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from energy import config as energy_config
from inverters.models import Inverter
from meter.models import Meter
from plant.management.commands import bootstrap
from plant.models import Plant
from plant.options import BATTERY_MANAGEMENT, WALLBOX, set_option
from simulator import controlbox, fleet
from simulator.fleet import MAX_PLANTS
from simulator.scenario import ScenarioError, load_scenario
from smartgrid import services
from smartgrid.eebus import identities
from smartgrid.eebus.models import EebusPeer
from smartgrid.models import GridLimits
from wallbox.configs import rs485_ports
from wallbox.models import Wallbox, line_name


class Command(bootstrap.Command):
    help = "bootstrap, and give a new first plant the simulated plant's inverters and wallboxes (development only)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--inverters-from",
            metavar="SCENARIO",
            help="simulator scenario file whose inverters the first plant gets (with --meter only)",
        )
        parser.add_argument(
            "--inverter-port-base",
            type=int,
            default=None,
            help="inverter N of the scenario answers on this port + N (default: the meter port)",
        )
        parser.add_argument(
            "--wallboxes-from",
            metavar="SCENARIO",
            help="simulator scenario file whose wallboxes the first plant gets, set up (with --meter only); "
            "switches the wallbox option on",
        )
        parser.add_argument(
            "--wallbox-port-base",
            type=int,
            default=None,
            help="wallbox N of the scenario answers on this port + N (default: the meter port + 9)",
        )
        parser.add_argument(
            "--controlbox-dir",
            metavar="DIR",
            help="state directory of the simulated control box: couple it with the first plant (SKIs through files)",
        )
        parser.add_argument(
            "--plants",
            type=int,
            default=1,
            metavar="N",
            help="also create plants 2 ... N (if missing) for `python -m simulator --plants N`: plant k's meter "
            "(and --inverters-from inverters) on the ports of the first plus 20 (k - 1); with --wallboxes-from "
            "its boxes on an RS485 gateway (Modbus RTU over TCP) at the simulator's line of plant k (the "
            "installation's RS485 A and B stay the first plant's)",
        )
        parser.add_argument("--controlbox-host", default="127.0.0.1", help="where serve_eebus reaches the box")
        parser.add_argument("--controlbox-port", type=int, default=controlbox.DEFAULT_PORT)

    def set_up(self, options: dict[str, Any]) -> None:
        plants = options["plants"]
        if not 1 <= plants <= MAX_PLANTS:
            raise CommandError(f"--plants: must be between 1 and {MAX_PLANTS}, got {plants}")
        super().set_up(options)
        if plants > 1 and options["meter"]:
            for line in add_fleet_plants(plants, options):
                self.stdout.write(line)
        if options["controlbox_dir"]:
            plant = Plant.objects.order_by("pk").first()
            if plant is not None:
                self.stdout.write(
                    couple_controlbox(
                        plant, Path(options["controlbox_dir"]), options["controlbox_host"], options["controlbox_port"]
                    )
                )

    def add_devices(self, plant: Plant, options: dict[str, Any]) -> None:
        # The demo plant has its options released without codes (ACT-1: source "demo").
        set_option(plant, BATTERY_MANAGEMENT, True)
        self.stdout.write(f"Serial number {plant.serial_number}; demo options released (wallbox, battery management).")
        if options["inverters_from"]:
            base = options["inverter_port_base"] or options["meter_port"]
            names = add_simulated_inverters(plant, options["inverters_from"], options["meter_host"], base)
            self.stdout.write(f"Added the simulated inverters: {', '.join(names)}.")
        if options["wallboxes_from"]:
            base = options["wallbox_port_base"]
            base = options["meter_port"] + 9 if base is None else base
            for line in add_simulated_wallboxes(plant, options["wallboxes_from"], options["meter_host"], base):
                self.stdout.write(line)


def add_fleet_plants(count: int, options: dict[str, Any]) -> list[str]:
    """Plants 2 ... ``count`` of ``python -m simulator --plants N`` (same port layout, the fleet's
    own function: simulator.fleet), each with its meter and the scenario's inverters; a plant
    whose name exists already is left as it is (idempotent)."""
    lines = []
    inverter_base = options["inverter_port_base"] or options["meter_port"]
    for index in range(1, count):
        name = f"{options['plant_name']} {index + 1}"
        if Plant.objects.filter(name=name).exists():
            continue
        meter_port, inverter_port_base, _wallboxes = fleet.plant_ports(index, options["meter_port"], inverter_base, 0)
        plant = Plant.objects.create(name=name)
        Meter.objects.create(plant=plant, host=options["meter_host"], port=meter_port)
        if options["inverters_from"]:
            add_simulated_inverters(plant, options["inverters_from"], options["meter_host"], inverter_port_base)
        lines.append(f"Created plant {name!r} with its meter at {options['meter_host']}:{meter_port}.")
        if options["wallboxes_from"]:
            base = options["wallbox_port_base"]
            base = options["meter_port"] + 9 if base is None else base
            _meter, _inverters, wallbox_base = fleet.plant_ports(index, 0, 0, base)
            lines += add_simulated_wallboxes(
                plant, options["wallboxes_from"], options["meter_host"], wallbox_base, gateway=True
            )
    return lines


def add_simulated_inverters(plant: Plant, scenario_path: str, host: str, port_base: int) -> list[str]:
    """The inverters of a simulator scenario, as the simulator serves them. Trusted like the rest
    of bootstrap: no detection (the simulator may not be up yet)."""
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise CommandError(f"--inverters-from: {exc}") from None
    for position, simulated in enumerate(scenario.inverters, start=1):
        Inverter.objects.create(
            plant=plant,
            name=simulated.name,
            type=simulated.type,
            max_ac_w=simulated.max_ac_w,
            with_battery=simulated.battery is not None,
            host=host,
            port=port_base + position,
            unit_id=71,
            position=position,
        )
    return [inverter.name for inverter in scenario.inverters]


# The simulated boxes share RS485 B, one line (the simulator's line 1, on the port base + 1).
WALLBOX_INTERFACE = Wallbox.Interface.B
SETTINGS_OF_INTERFACE = {Wallbox.Interface.A: "KSEM_RS485_A", Wallbox.Interface.B: "KSEM_RS485_B"}
MAX_SIMULATED_BOXES = 16


def add_simulated_wallboxes(
    plant: Plant, scenario_path: str, host: str, port_base: int, *, gateway: bool = False
) -> list[str]:
    """Switch the wallbox option on and add the scenario's ENECTORs as boxes already set up, all
    on RS485 B, or (``gateway``: the further plants of a fleet) on an RS485 gateway at the
    simulator's line, ``host:port_base + 1``.

    No setup run (the simulator may not be up yet): the scenario must have each box at its
    final address already (``"address": 100``), as a box the manager moved before answers, and
    several boxes must name one line (``"line": "B"``) so the simulator serves them on one port.
    Returns what to print: each box and the serial line it needs.
    """
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise CommandError(f"--wallboxes-from: {exc}") from None
    boxes = scenario.wallboxes
    if not boxes:
        raise CommandError(f"--wallboxes-from: {scenario_path} lists no wallboxes")
    if len(boxes) > MAX_SIMULATED_BOXES:
        raise CommandError(
            f"--wallboxes-from: {scenario_path} lists {len(boxes)} wallboxes; one RS485 line takes at most "
            f"{MAX_SIMULATED_BOXES}"
        )
    if len({box.line for box in boxes}) > 1 or (len(boxes) > 1 and boxes[0].line is None):
        raise CommandError(
            f'--wallboxes-from: the wallboxes of {scenario_path} must name one line ("line": "B"): '
            "the product has them all on RS485 B"
        )
    seen: dict[int, str] = {}
    for n, box in enumerate(boxes):
        if box.address == energy_config.WALLBOX_FACTORY_ADDRESS:
            raise CommandError(
                f"--wallboxes-from: wallboxes[{n}].address is {box.address} (a new box before its setup); "
                f"give it {energy_config.WALLBOX_ADDRESS}, the address of a box that is already set up"
            )
        if seen.setdefault(box.address, box.name) != box.name:
            raise CommandError(
                f"--wallboxes-from: wallboxes[{n}].address {box.address} is also {seen[box.address]!r}'s"
            )
    set_option(plant, WALLBOX, True)
    lines = []
    interface = Wallbox.Interface.GATEWAY if gateway else WALLBOX_INTERFACE
    on_gateway = {"gateway_host": host, "gateway_port": port_base + 1} if gateway else {}
    line = f"socket://{host}:{port_base + 1}"
    for position, box in enumerate(boxes, start=1):
        created = Wallbox.objects.create(
            plant=plant,
            name=box.name,
            type=box.type,
            interface=interface,
            address=box.address,
            rotation=box.rotation,
            position=position,
            **on_gateway,
        )
        lines.append(
            f"Added the simulated wallbox {box.name!r} on RS485 {line_name(created.line)}, address {box.address}."
        )
    if gateway:
        return [*lines, "Switched the wallbox option on."]
    found = rs485_ports().get(interface, "")
    where = (
        f"found there through {SETTINGS_OF_INTERFACE[interface]}"
        if found == line
        else f"set {SETTINGS_OF_INTERFACE[interface]}={line} for the manager to find it (now: {found or 'unset'})"
    )
    lines.append(f"The simulator serves RS485 {interface} on {line}: {where}.")
    lines.append("Switched the wallbox option on.")
    return lines


def couple_controlbox(plant: Plant, state_dir: Path, host: str, port: int) -> str:
    """The first plant and the simulated control box trust each other (idempotent)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    box = controlbox.load_identity(state_dir)
    own = identities.load(plant.pk)
    trusted = state_dir / "trusted"
    lines = trusted.read_text(encoding="utf-8").split() if trusted.exists() else []
    if own.ski not in lines:
        trusted.write_text("\n".join([*lines, own.ski]) + "\n", encoding="utf-8")
    peer, _created = EebusPeer.objects.get_or_create(plant=plant, ski=box.ski)
    peer.trusted = True
    peer.host, peer.port = host, port
    peer.brand, peer.model = controlbox.DEVICE["brand"], controlbox.DEVICE["model"]
    peer.device_type = controlbox.DEVICE["type"]
    peer.description = "simulated control box (energy guard)"
    peer.ship_id = peer.ship_id or box.ship_id
    peer.save()
    if not GridLimits.objects.filter(plant=plant).exists():
        services.set_enabled(plant.pk, True)  # the simulated box controls the first plant from the start
    return f"Coupled the plant with the simulated control box (SKI {box.ski}, port {port})."
