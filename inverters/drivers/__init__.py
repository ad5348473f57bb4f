"""Inverter drivers: one per register map, chosen by the inverter's type.

PLENTICORE plus, PLENTICORE BI and PIKO IQ speak KOSTAL's own map (:mod:`.plenticore`);
PIKO 4.2-20, PIKO CI and PIKO MP plus SunSpec (:mod:`.sunspec`). Over TCP, or Modbus RTU on an
RS485 line when the configuration has ``serial``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from energy.config import INVERTER_TYPES, KOSTAL_MAP_TYPES, InverterConfig
from inverters.drivers.modbus import BATTERY_W, LIMIT_PCT, InverterError, ModbusInverter
from inverters.drivers.plenticore import PlenticoreInverter
from inverters.drivers.sunspec import SunSpecInverter

__all__ = [
    "BATTERY_W",
    "LIMIT_PCT",
    "InverterError",
    "ModbusInverter",
    "PlenticoreInverter",
    "SunSpecInverter",
    "connect_inverter",
]


def connect_inverter(
    config: InverterConfig, *, clock: Callable[[], float] = time.monotonic
) -> PlenticoreInverter | SunSpecInverter:
    """The driver for this inverter (it connects on its first call).

    ``clock`` (seconds, monotonic) times the setpoint refreshes; a stepped replay passes its
    simulated clock so refreshes follow simulated time.
    """
    if config.type not in INVERTER_TYPES:
        raise ValueError(f"unknown inverter type {config.type!r} (known: {', '.join(INVERTER_TYPES)})")
    if config.type in KOSTAL_MAP_TYPES:
        return PlenticoreInverter(config, clock=clock)
    return SunSpecInverter(config, clock=clock)
