"""``python -m simulator --plants N``: plants drawn from the seed, their ports, and the client count
that tells two masters on one device."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from simulator.fleet import PLANT_PORT_STRIDE, plant_ports, plant_scenario, plant_seed
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
HOME = load_scenario(ROOT / "simulator" / "scenarios" / "home.json")


def test_plant_zero_is_the_scenario_itself() -> None:
    assert plant_scenario(HOME, 7, 0) is HOME
    assert plant_seed(7, 0) == 7


def test_plants_differ_from_each_other_and_the_same_seed_gives_the_same_fleet() -> None:
    fleet = [plant_scenario(HOME, 7, k) for k in range(1, 20)]
    assert fleet == [plant_scenario(HOME, 7, k) for k in range(1, 20)], "deterministic"
    for field in ("pv_peak_w", "house_base_w", "cloudiness", "latitude_deg", "longitude_deg"):
        assert len({getattr(plant, field) for plant in fleet}) > 10, f"{field} differs between plants"
    cars = {plant.wallboxes[0].cars[0].soc_pct for plant in fleet if plant.wallboxes and plant.wallboxes[0].cars}
    assert len(cars) > 5 or not HOME.wallboxes, "the cars arrive with different charge"
    assert [i.name for i in fleet[0].inverters] == [i.name for i in HOME.inverters], "same devices, same names"
    assert plant_scenario(HOME, 8, 1) != fleet[0], "another seed, another fleet"


@pytest.mark.parametrize(
    ("index", "bases", "expected"),
    [
        (0, (15020, 15020, 15029), (15020, 15020, 15029)),
        (1, (15020, 15020, 15029), (15040, 15040, 15049)),
        (3, (15020, 15020, 15029), (15080, 15080, 15089)),
        (5, (0, 0, 0), (0, 0, 0)),
    ],
)
def test_plant_k_is_on_the_ports_of_plant_zero_plus_the_stride(index, bases, expected) -> None:
    assert plant_ports(index, *bases) == expected
    assert PLANT_PORT_STRIDE == 20


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_three_plants_each_on_its_own_ports_counting_their_clients(tmp_path: Path) -> None:
    scenario, ports_file, stats_file = tmp_path / "s.json", tmp_path / "ports.json", tmp_path / "stats.json"
    scenario.write_text(
        json.dumps({"battery": None, "wallbox": None, "inverters": [{"name": "roof", "type": "plenticore"}]})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--plants", "3", "--scenario", str(scenario), "--port", "0",
         "--inverter-port-base", "0", "--ports-file", str(ports_file), "--stats-file", str(stats_file),
         "--log-level", "WARNING"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (ports := _json(ports_file)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ports is not None
        plants = ports["plants"]
        assert len(plants) == 3 and all(set(p) == {"meter", "roof"} for p in plants)
        assert len({port for p in plants for port in p.values()}) == 6, "every device on a port of its own"
        first, second = (ModbusTcpClient("127.0.0.1", port=plants[1]["meter"]) for _ in range(2))
        assert first.connect() and first.read_holding_registers(0, count=2, device_id=1).registers
        assert second.connect() and second.read_holding_registers(0, count=2, device_id=1).registers
        first.close()
        second.close()
        time.sleep(1.2)  # written every 0.5 s
        stats = _json(stats_file)
        assert stats is not None
        assert stats["plants"][1]["meter"] == {"clients": 0, "max_clients": 2, "connects": 2}, "two masters seen"
        assert stats["plants"][0]["meter"]["max_clients"] == 0 and stats["plants"][2]["roof"]["connects"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_plants_out_of_range_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--plants", "0"], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2 and "--plants: must be between 1 and 1000, got 0" in result.stderr
