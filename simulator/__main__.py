"""``python -m simulator``: the virtual plant behind a grid meter speaking Modbus TCP."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal
import sys
from pathlib import Path

from simulator.fleet import MAX_PLANTS, plant_ports, plant_scenario, plant_seed, write_json_atomically
from simulator.grid_meter import METER_UNIT_IDS
from simulator.model import PlantModel
from simulator.runner import DEFAULT_INVERTER_PORT_BASE, DEFAULT_METER_PORT, DEFAULT_WALLBOX_PORT_BASE, Simulator
from simulator.scenario import Scenario, ScenarioError, load_scenario, parse_start
from simulator.server import Fault, FaultKind, parse_fault_lines, parse_fault_spec
from simulator.state_file import StateFileError, load_state

log = logging.getLogger("simulator")

DESCRIPTION = """\
A deterministic virtual plant (PV with passing clouds, a house with appliances, a house battery,
wallboxes with cars) behind a grid meter that speaks the KOSTAL KSEM register map and SunSpec
over Modbus TCP (unit ids 1 and 71): KSEM registers 0-147 and 512-791, PnP block 8192-8249,
SunSpec models 1 and 203 from 40000, energy-flow block 0xA000.

Inverters listed in the scenario each get a Modbus TCP server of their own: inverter N on
--inverter-port-base + N (15021, 15022, ...). PLENTICORE plus / BI and PIKO IQ answer KOSTAL's
map on unit 71; PIKO 4.2-20, PIKO CI and PIKO MP plus a SunSpec chain from 40000 on units 1
and 71. They take setpoint writes (FC06/FC16) and fall back when no write comes for 30 s.

Wallboxes listed in the scenario ("wallboxes", each a KOSTAL ENECTOR with its cars) speak
Modbus RTU over TCP, box N on --wallbox-port-base + N (15030, 15031, ...), at address 50 until
the product moves them; with --wallbox-pty each also answers on a pty (its path is logged).

The same seed, scenario and simulated times always give the same values. Energy counters only
ever increase; with --state-file they continue across restarts (saved every 10 s and on exit).
Stop with Ctrl-C or SIGTERM."""

EPILOG = """\
scenario file (JSON, every key optional):
  {"pv_peak_w": 8000, "house_base_w": 300, "cloudiness": 0.3,
   "latitude_deg": 51.0, "longitude_deg": 10.0, "timezone": "Europe/Berlin",
   "start": "2025-06-21T06:00:00+00:00",
   "battery": {"capacity_wh": 10000, "max_power_w": 5000, "min_soc_pct": 5,
               "max_soc_pct": 100, "initial_soc_pct": 50},
   "wallbox": {"max_power_w": 11000, "phases": 3,
               "sessions": [{"start": "10:00", "end": "14:00", "car_capacity_wh": 60000}]},
   "inverters": [{"name": "roof south", "type": "plenticore", "max_ac_w": 10000, "pv_peak_w": 9000,
                  "battery": {"capacity_wh": 7680, "max_power_w": 7680}},
                 {"name": "garage", "type": "piko_epc", "max_ac_w": 5500}],
   "wallboxes": [{"name": "carport", "type": "enector_11", "rotation": "L1L2L3",
                  "cars": [{"plug": "10:30", "unplug": "15:00", "phases": 3, "max_current_a": 16,
                            "min_current_a": 6, "capacity_wh": 60000, "soc_pct": 30}]}]}
  "battery": null or "wallbox": null leaves that device out. With "inverters" listed, the
  plant's PV and batteries are the inverters' (the top-level pv_peak_w and battery are unused).
  With "wallboxes" the plain "wallbox" load is left out (give one or the other).

example:
  python -m simulator --port 15020 --seed 7 --speed 60 --start 2025-06-21T04:00:00+00:00"""


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _plants(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_PLANTS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PLANTS}, got {text}")
    return value


def _start(text: str) -> dt.datetime:
    try:
        moment = parse_start("--start", text)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert moment is not None
    return moment


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_METER_PORT, help="grid meter port, 0 = any free port (default: %(default)s)"
    )
    parser.add_argument(
        "--inverter-port-base",
        type=int,
        default=DEFAULT_INVERTER_PORT_BASE,
        help="inverter N listens on this + N; 0 = any free ports (default: %(default)s)",
    )
    parser.add_argument(
        "--sdm630-port",
        type=int,
        default=None,
        help="also serve the grid meter as an Eastron SDM630, Modbus RTU over TCP on this port (default: off)",
    )
    parser.add_argument(
        "--wallbox-port-base",
        type=int,
        default=DEFAULT_WALLBOX_PORT_BASE,
        help="wallbox N speaks Modbus RTU over TCP on this + N; 0 = any free ports (default: %(default)s)",
    )
    parser.add_argument(
        "--wallbox-pty", action="store_true", help="also serve each wallbox on a pty (a serial device node)"
    )
    parser.add_argument("--seed", type=int, default=1, help="selects clouds, appliances, noise (default: %(default)s)")
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="simulated seconds per wall-clock second (default: %(default)s)"
    )
    parser.add_argument("--scenario", metavar="FILE", help="JSON scenario file (see below)")
    parser.add_argument("--state-file", metavar="FILE", help="JSON file that keeps the counters and battery SoC")
    parser.add_argument(
        "--start", type=_start, metavar="ISO", help="simulated start time with UTC offset (default: scenario, else now)"
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="DEVICE=KIND[:ARG]",
        help="start with this device answering badly, e.g. meter=wrong_unit, 'roof south=exception:2', "
        "garage=slow:1.5 (repeatable; kinds: " + ", ".join(k.value for k in FaultKind) + ")",
    )
    parser.add_argument(
        "--fault-file",
        metavar="FILE",
        help="re-read every second: one DEVICE=KIND[:ARG] per line sets the faults of a running "
        "simulator (devices not listed answer normally; a bad file is logged and changes nothing)",
    )
    parser.add_argument(
        "--plants",
        type=_plants,
        default=1,
        metavar="N",
        help="serve N plants: plant k (from 0) on the ports of plant 0 + 20k, its own sun, house and cars "
        "drawn from the seed; --fault, --fault-file, --state-file, --sdm630-port and --wallbox-pty "
        "act on plant 0 (default: %(default)s)",
    )
    parser.add_argument(
        "--ports-file", metavar="FILE", help="write the ports every plant's devices listen on (JSON) once started"
    )
    parser.add_argument(
        "--stats-file",
        metavar="FILE",
        help="every 0.5 s: per plant and device the client connections open now, the most at once, and "
        "how many came (JSON)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _fault(text: str) -> tuple[str, Fault]:
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read_fault_file(path: Path) -> tuple[tuple[float, int] | None, str]:
    """(modification stamp, text) of the fault file; (None, "") while it does not exist."""
    try:
        stat = path.stat()
        return (stat.st_mtime, stat.st_size), path.read_text()
    except FileNotFoundError:
        return None, ""


async def _watch_fault_file(simulator: Simulator, path: Path, initial: dict[str, Fault]) -> None:
    """Apply the fault file whenever it changes (checked every second); the --fault options
    hold while the file does not exist."""
    seen: tuple[float, int] | None = None
    first = True
    while True:
        try:
            stamp, text = await asyncio.to_thread(_read_fault_file, path)
            if stamp != seen or first:
                seen, first = stamp, False
                faults = parse_fault_lines(text) if stamp is not None else initial
                await simulator.apply_faults(faults)
                applied = ", ".join(f"{device}={fault.kind.value}" for device, fault in faults.items())
                log.info("faults from %s: %s", path, applied or "none")
        except (OSError, ValueError, KeyError) as exc:
            log.error("fault file %s ignored: %s", path, exc)
        await asyncio.sleep(1.0)


def fleet_ports(fleet: list[Simulator]) -> list[dict[str, int]]:
    """Per plant: {device name: port} ("meter", every inverter, every line and box)."""
    return [simulator.ports for simulator in fleet]


def fleet_stats(fleet: list[Simulator]) -> dict[str, object]:
    """Per plant and device server: client connections now, the most at once, how many came; and
    per plant what its inverters really do (the limit in force, its watchdog's fallback) and the
    grid power (import +), for fault tests that check that no limit was left unsafe."""
    return {
        "plants": [
            {name: server.client_count.as_dict() for name, server in simulator.servers.items()
             if hasattr(server, "client_count")}
            for simulator in fleet
        ],
        "truth": [_truth(simulator.model) for simulator in fleet],
    }  # fmt: skip


def _truth(model: PlantModel) -> dict[str, object]:
    return {
        "grid_w": round(model.reading().active_power_w, 1),
        "inverters": {
            name: {"limit_pct": truth.limit_pct, "limit_enabled": truth.limit_enabled, "ac_w": round(truth.ac_power_w)}
            for name, truth in model.inverter_outputs().items()
        },
    }


async def _write_stats(fleet: list[Simulator], path: Path) -> None:
    while True:
        try:
            await asyncio.to_thread(write_json_atomically, path, fleet_stats(fleet))
        except OSError as exc:
            log.error("stats file %s: %s", path, exc)
        await asyncio.sleep(0.5)


async def _serve(
    simulator: Simulator,
    faults: dict[str, Fault] | None = None,
    fault_file: str | None = None,
    others: list[Simulator] | None = None,
    ports_file: str | None = None,
    stats_file: str | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    fleet = [simulator, *(others or [])]
    started: list[Simulator] = []
    try:
        for member in fleet:
            await member.start()
            started.append(member)
    except BaseException:
        for member in started:
            await member.stop()
        raise
    if ports_file:
        write_json_atomically(Path(ports_file), {"plants": fleet_ports(fleet)})
    stats = asyncio.create_task(_write_stats(fleet, Path(stats_file))) if stats_file else None
    watcher = None
    try:
        if faults:
            await simulator.apply_faults(faults)
        if fault_file:
            watcher = asyncio.create_task(_watch_fault_file(simulator, Path(fault_file), faults or {}))
    except (KeyError, ValueError) as exc:
        for member in fleet:
            await member.stop()
        raise OSError(f"--fault: {exc}") from None
    model = simulator.model
    log.info(
        "grid meter listening on %s:%d (unit ids %s), seed %d, speed %gx, simulated time %s",
        simulator.host,
        simulator.meter_port,
        ", ".join(map(str, METER_UNIT_IDS)),
        model.seed,
        simulator.speed,
        model.now.isoformat(timespec="seconds"),
    )
    for name in model.inverter_names:
        inverter = model.inverter_config(name)
        log.info(
            "inverter %r (%s) listening on %s:%d%s",
            name,
            inverter.type,
            simulator.host,
            simulator.ports[name],
            f", Modbus RTU on line {inverter.line} at address {inverter.address}" if inverter.line else "",
        )
    for name in model.wallbox_names:
        pty = simulator.pty_paths.get(name)
        log.info(
            "wallbox %r (%s) on Modbus RTU over TCP %s:%d, address %d%s",
            name,
            model.wallbox_config(name).type,
            simulator.host,
            simulator.ports[name],
            model.wallbox_address(name),
            f", and on {pty}" if pty else "",
        )
    if len(fleet) > 1:
        log.info(
            "%d more plants: meters on %s",
            len(fleet) - 1,
            ", ".join(str(member.meter_port) for member in fleet[1:]),
        )
    try:
        await stop.wait()
    finally:
        for task in (watcher, stats):
            if task is not None:
                task.cancel()
        for member in fleet:
            await member.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    except ScenarioError as exc:
        parser.error(f"bad scenario file {args.scenario}: {exc}")
    try:
        saved = load_state(args.state_file) if args.state_file else None
    except StateFileError as exc:
        parser.error(f"bad state file: {exc}")
    start = args.start or scenario.start or dt.datetime.now(dt.UTC)
    model = PlantModel(scenario, seed=args.seed, start=start, saved=saved)
    simulator = Simulator(
        model,
        host=args.host,
        meter_port=args.port,
        inverter_port_base=args.inverter_port_base,
        sdm630_port=args.sdm630_port,
        wallbox_port_base=args.wallbox_port_base,
        wallbox_pty=args.wallbox_pty,
        speed=args.speed,
        state_file=args.state_file,
    )
    others = []
    for index in range(1, args.plants):
        meter_port, inverter_base, wallbox_base = plant_ports(
            index, args.port, args.inverter_port_base, args.wallbox_port_base
        )
        others.append(
            Simulator(
                PlantModel(plant_scenario(scenario, args.seed, index), seed=plant_seed(args.seed, index), start=start),
                host=args.host,
                meter_port=meter_port,
                inverter_port_base=inverter_base,
                wallbox_port_base=wallbox_base,
                speed=args.speed,
            )
        )
    try:
        asyncio.run(_serve(simulator, dict(args.fault), args.fault_file, others, args.ports_file, args.stats_file))
    except OSError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
