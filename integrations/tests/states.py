"""A snapshot with every kind of device, for the pure tests (no database, no broker)."""

from __future__ import annotations

import datetime as dt

from energy.state import (
    BatteryState,
    ControllerStatus,
    DeviceStatus,
    EnergyCounters,
    EnergyFlow,
    InverterState,
    MeterReading,
    PhaseReading,
    PlantState,
    WallboxState,
)


def full_state(sequence: int = 1, grid_w: float = 1234.4, plant_id: int = 7, box_name: str = "Carport") -> PlantState:
    phases = tuple(
        PhaseReading(
            voltage_v=230.04 + n,
            current_a=1.5 + n,
            active_power_w=grid_w / 3,
            reactive_power_var=0.0,
            apparent_power_va=grid_w / 3,
            power_factor=0.99,
        )
        for n in range(3)
    )
    meter = MeterReading(
        active_power_w=grid_w,
        reactive_power_var=0.0,
        apparent_power_va=grid_w,
        power_factor=0.99,
        frequency_hz=50.012,
        phases=(phases[0], phases[1], phases[2]),
        energy=EnergyCounters(),
        phase_energy=(EnergyCounters(), EnergyCounters(), EnergyCounters()),
    )
    online = DeviceStatus(name="x", online=True)
    return PlantState(
        plant_id=plant_id,
        timestamp=dt.datetime(2026, 6, 1, 12, 0, sequence % 60, tzinfo=dt.UTC),
        sequence=sequence,
        meter=meter,
        meter_status=online,
        flow=EnergyFlow(
            grid_power_w=grid_w,
            pv_power_w=5000.0,
            battery_power_w=800.0,
            battery_soc_pct=55.5,
            house_power_w=2000.0,
            wallbox_power_w=3000.0,
        ),
        totals=EnergyCounters(active_import_wh=1_000_000.4 + sequence, active_export_wh=2_000_000.0),
        phase_totals=(EnergyCounters(), EnergyCounters(), EnergyCounters()),
        inverters=(
            InverterState(
                name="PLENTICORE plus",
                type="plenticore",
                status=online,
                controllable=True,
                max_ac_w=10000.0,
                ac_power_w=4800.0,
                dc_power_w=5100.0,
                limit_pct=70.0,
            ),
        ),
        battery=BatteryState(
            name="BYD",
            status=online,
            inverter="PLENTICORE plus",
            capacity_wh=10000.0,
            max_charge_w=5000.0,
            max_discharge_w=5000.0,
            min_soc_pct=10.0,
            max_soc_pct=100.0,
            power_w=800.0,
            soc_pct=55.5,
            charge_limit_w=3000.0,
            charge_limit_reason="fuse L1 25 A",
        ),
        wallboxes=(
            WallboxState(
                name=box_name,
                type="enector_11",
                status=online,
                state="charging",
                mode="power",
                configured_mode="power",
                phases=3,
                current_a=16.0,
                power_w=11000.0,
                vehicle_connected=True,
                session_energy_wh=1234.0,
                reason="Power mode: maximum current",
            ),
        ),
        feed_in_limit_w=7000.0,
        controllers=(ControllerStatus(name="Feed-in limitation", state="limiting", reason="70 % rule"),),
    )
