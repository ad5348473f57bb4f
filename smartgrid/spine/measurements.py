"""Measurement and ElectricalConnection data for the monitoring use cases (MGCP and MPC), built
from the product's grid measurements (positive power = purchase from the grid)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartgrid.spine.backend import GridMeasurements
from smartgrid.spine.values import scaled_number


@dataclass(frozen=True)
class Point:
    measurement_id: int
    measurement_type: str
    unit: str
    scope: str
    phases: str | None
    value: Callable[[GridMeasurements], float]


def _phase(attr: str, index: int) -> Callable[[GridMeasurements], float]:
    return lambda m: float(getattr(m, attr)[index])


# eebus-go gcp/mgcp measurement ids: 0 power, 1 feed-in, 2 consumption, 3-5 current, 6-8 voltage, 9 frequency
MGCP_POINTS: tuple[Point, ...] = (
    Point(0, "power", "W", "acPowerTotal", "abc", lambda m: m.power_w),
    Point(1, "energy", "Wh", "gridFeedIn", None, lambda m: m.energy_fed_in_wh),
    Point(2, "energy", "Wh", "gridConsumption", None, lambda m: m.energy_consumed_wh),
    *(Point(3 + i, "current", "A", "acCurrent", "abc"[i], _phase("current_a", i)) for i in range(3)),
    *(Point(6 + i, "voltage", "V", "acVoltage", "abc"[i], _phase("voltage_v", i)) for i in range(3)),
    Point(9, "frequency", "Hz", "acFrequency", None, lambda m: m.frequency_hz),
)

# MPC (MonitoredUnit): power total and per phase, energy consumed/produced, current, voltage, frequency
MPC_POINTS: tuple[Point, ...] = (
    Point(0, "power", "W", "acPowerTotal", "abc", lambda m: m.power_w),
    *(Point(1 + i, "power", "W", "acPower", "abc"[i], _phase("power_per_phase_w", i)) for i in range(3)),
    Point(4, "energy", "Wh", "acEnergyConsumed", None, lambda m: m.energy_consumed_wh),
    Point(5, "energy", "Wh", "acEnergyProduced", None, lambda m: m.energy_fed_in_wh),
    *(Point(6 + i, "current", "A", "acCurrent", "abc"[i], _phase("current_a", i)) for i in range(3)),
    *(Point(9 + i, "voltage", "V", "acVoltage", "abc"[i], _phase("voltage_v", i)) for i in range(3)),
    Point(12, "frequency", "Hz", "acFrequency", None, lambda m: m.frequency_hz),
)


def descriptions(points: tuple[Point, ...]) -> dict[str, Any]:
    return {
        "measurementDescriptionData": [
            {
                "measurementId": p.measurement_id,
                "measurementType": p.measurement_type,
                "commodityType": "electricity",
                "unit": p.unit,
                "scopeType": p.scope,
            }
            for p in points
        ]
    }


def values(points: tuple[Point, ...], grid: GridMeasurements | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for p in points:
        item: dict[str, Any] = {"measurementId": p.measurement_id, "valueType": "value"}
        if grid is None:
            item["valueState"] = "error"  # always send the state, else an old error sticks
        else:
            item["value"] = scaled_number(p.value(grid))
            item["valueSource"] = "measuredValue"
            item["valueState"] = "normal"
        items.append(item)
    return {"measurementData": items}


def connection_description() -> dict[str, Any]:
    return {
        "electricalConnectionDescriptionData": [
            {
                "electricalConnectionId": 0,
                "powerSupplyType": "ac",
                "acConnectedPhases": 3,
                "positiveEnergyDirection": "consume",
            }
        ]
    }


def parameter_descriptions(points: tuple[Point, ...]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for p in points:
        item: dict[str, Any] = {
            "electricalConnectionId": 0,
            "parameterId": p.measurement_id,
            "measurementId": p.measurement_id,
            "voltageType": "ac",
        }
        if p.phases is not None:
            item["acMeasuredPhases"] = p.phases
            item["acMeasuredInReferenceTo"] = "neutral"
        if p.measurement_type in ("power", "energy"):
            item["acMeasurementType"] = "real"
        if p.measurement_type in ("current", "voltage"):
            item["acMeasurementVariant"] = "rms"
        items.append(item)
    return {"electricalConnectionParameterDescriptionData": items}
