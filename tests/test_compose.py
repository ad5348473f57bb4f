"""The compose files stay in step with the simulator and the bootstrap they start.

No Docker engine runs in the test suite; these checks read the files as compose merges them (a
service's ``environment`` by key, the rest replaced) and hold them to the simulator's ports and
scenario, so the fleet stack's plants find their wallboxes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from simulator.runner import DEFAULT_WALLBOX_PORT_BASE

ROOT = Path(__file__).resolve().parent.parent


def merged_services() -> dict[str, dict]:
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    fleet = yaml.safe_load((ROOT / "docker-compose.fleet.yml").read_text(encoding="utf-8"))["services"]
    services = {name: dict(service) for name, service in base.items()}
    for name, override in fleet.items():
        service = services[name]  # an override of a service the base file does not have would start alone
        for key, value in override.items():
            if key == "environment":
                service[key] = {**service.get(key, {}), **value}
            else:
                service[key] = value
    return services


def default_of(value: str) -> str:
    """``${NAME:-default}`` -> ``default``."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def test_the_fleets_first_plant_finds_its_boxes_on_the_simulators_first_line() -> None:
    services = merged_services()
    line = f"socket://simulator:{DEFAULT_WALLBOX_PORT_BASE + 1}"
    # Every process that opens a box or shows its interface knows where RS485 B is.
    for name in ("worker", "web", "https", "modbus", "migrate"):
        assert default_of(services[name]["environment"]["KSEM_RS485_B"]) == line, name
    # ... and keeps the base file's settings beside it.
    assert services["worker"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_the_fleets_plants_get_the_scenarios_wallboxes_and_threads_for_their_line_time() -> None:
    services = merged_services()
    # The simulated start (the `*)` branch of the migrate command) gives plants 2 ... N their boxes.
    simulated = services["migrate"]["command"].split("*)", 1)[1]
    match = re.search(r"bootstrap_simulated .*--wallboxes-from (\S+) .*--plants ", simulated)
    assert match, simulated
    assert json.loads((ROOT / match.group(1)).read_text(encoding="utf-8"))["wallboxes"], match.group(1)
    worker = services["worker"]["command"].split()
    threads = int(worker[worker.index("-c") + 1])
    assert threads >= 32  # docs/operations.md: threads >= plants x cycle seconds x 3
    assert services["worker"]["deploy"]["replicas"] == "${KSEM_WORKERS:-2}"
