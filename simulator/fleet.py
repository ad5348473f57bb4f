"""Many simulated plants in one process (``python -m simulator --plants N``).

Plant 0 is the scenario as given, on the ports as given, so ``--plants 1`` is the single plant of
old. Plant k (k >= 1) is the same scenario with its own sun (latitude and longitude a few degrees
off), its own PV size, house base load and cloudiness, and its own cars (arrival charge, battery
size), all drawn from ``random.Random(seed * 1000 + k)``, and its model runs on seed ``seed + k``:
the same seed always gives the same fleet. Plant k listens on the ports of plant 0 plus
``k * PLANT_PORT_STRIDE`` (meter, inverters, RS485 lines alike); with port 0 every server takes a
free port, and ``--ports-file`` says which.

:func:`plant_scenario` and :func:`plant_ports` are also what ``manage.py bootstrap_simulated
--plants N`` uses to create the matching plants, so the two always agree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import Any

from simulator.scenario import CarScenario, Scenario, WallboxScenario

# Meter on base + 20k, inverters on base + 20k + 1..8, lines on wallbox base + 20k + 1..10:
# with the default bases (15020 / 15029) plant k's ports are 15020 + 20k ... 15039 + 20k.
PLANT_PORT_STRIDE = 20
MAX_PLANTS = 1000


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 1000 + index)


def plant_seed(seed: int, index: int) -> int:
    """The model seed of plant ``index`` (clouds, appliances, noise)."""
    return seed + index


def plant_scenario(base: Scenario, seed: int, index: int) -> Scenario:
    """Plant ``index`` of a fleet drawn from ``seed``: plant 0 is ``base`` itself."""
    if index == 0:
        return base
    rng = _rng(seed, index)
    inverters = tuple(
        dataclasses.replace(inverter, pv_peak_w=round(inverter.pv_peak_w * rng.uniform(0.6, 1.2)))
        for inverter in base.inverters
    )
    wallboxes = tuple(_wallbox(box, rng) for box in base.wallboxes)
    return dataclasses.replace(
        base,
        pv_peak_w=round(base.pv_peak_w * rng.uniform(0.5, 1.5)),
        house_base_w=round(base.house_base_w * rng.uniform(0.6, 1.8)),
        cloudiness=round(rng.uniform(0.0, 0.8), 2),
        latitude_deg=round(base.latitude_deg + rng.uniform(-4.0, 4.0), 2),
        longitude_deg=round(base.longitude_deg + rng.uniform(-5.0, 5.0), 2),
        inverters=inverters,
        wallboxes=wallboxes,
    )


def _wallbox(box: WallboxScenario, rng: random.Random) -> WallboxScenario:
    cars: list[CarScenario] = [
        dataclasses.replace(
            car,
            soc_pct=round(rng.uniform(10.0, 70.0)),
            capacity_wh=rng.choice((40_000.0, 60_000.0, 77_000.0, 100_000.0)),
        )
        for car in box.cars
    ]
    return dataclasses.replace(box, cars=tuple(cars))


def plant_ports(index: int, meter_port: int, inverter_port_base: int, wallbox_port_base: int) -> tuple[int, int, int]:
    """(meter port, inverter port base, wallbox port base) of plant ``index``; 0 stays 0 (free ports)."""
    shift = index * PLANT_PORT_STRIDE

    def moved(port: int) -> int:
        return port + shift if port else 0

    return moved(meter_port), moved(inverter_port_base), moved(wallbox_port_base)


def write_json_atomically(path: Path, data: Any) -> None:
    """Readers never see half a file: written next to it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=1))
    partial.replace(path)
