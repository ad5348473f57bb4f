"""Eastron SDM630 register map (public "SDM630 Modbus Protocol"): input registers, FC04.

Every value is an IEEE 754 float32, big-endian, high word first, two registers. Energies are
in kWh / kVArh / kVAh. Per-phase powers are signed (negative while exporting). The map is
data here so the driver (decode) and the simulator's SDM630 (encode) share it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from energy.state import EnergyCounters, MeterReading, PhaseReading

# (address, name); every entry is one float32 (two registers).
POINTS: tuple[tuple[int, str], ...] = (
    (0x0000, "voltage_l1"),
    (0x0002, "voltage_l2"),
    (0x0004, "voltage_l3"),
    (0x0006, "current_l1"),
    (0x0008, "current_l2"),
    (0x000A, "current_l3"),
    (0x000C, "power_l1"),
    (0x000E, "power_l2"),
    (0x0010, "power_l3"),
    (0x0012, "apparent_l1"),
    (0x0014, "apparent_l2"),
    (0x0016, "apparent_l3"),
    (0x0018, "reactive_l1"),
    (0x001A, "reactive_l2"),
    (0x001C, "reactive_l3"),
    (0x001E, "pf_l1"),
    (0x0020, "pf_l2"),
    (0x0022, "pf_l3"),
    (0x0034, "power_total"),
    (0x0038, "apparent_total"),
    (0x003C, "reactive_total"),
    (0x003E, "pf_total"),
    (0x0046, "frequency"),
    (0x0048, "import_kwh"),
    (0x004A, "export_kwh"),
    (0x004C, "import_kvarh"),
    (0x004E, "export_kvarh"),
    (0x0050, "total_kvah"),
    (0x015A, "import_kwh_l1"),
    (0x015C, "import_kwh_l2"),
    (0x015E, "import_kwh_l3"),
    (0x0160, "export_kwh_l1"),
    (0x0162, "export_kwh_l2"),
    (0x0164, "export_kwh_l3"),
)
# Reads covering every point; the meter answers at most 80 registers per request.
READ_BLOCKS: tuple[tuple[int, int], ...] = ((0x0000, 80), (0x0050, 2), (0x015A, 12))
UNIT_ID = 1
DEFAULT_BAUDRATE = 9600  # factory setting: 9600 8N1, address 1


def encode(values: Mapping[str, float]) -> dict[int, int]:
    image: dict[int, int] = {}
    for address, name in POINTS:
        high, low = struct.unpack(">HH", struct.pack(">f", float(values.get(name, 0.0))))
        image[address], image[address + 1] = high, low
    return image


def decode(image: Mapping[int, int]) -> dict[str, float]:
    return {
        name: struct.unpack(">f", struct.pack(">HH", image[address], image[address + 1]))[0] for address, name in POINTS
    }


def reading_to_values(reading: MeterReading) -> dict[str, float]:
    values: dict[str, float] = {}
    for n, phase in enumerate(reading.phases, start=1):
        values |= {
            f"voltage_l{n}": phase.voltage_v,
            f"current_l{n}": phase.current_a,
            f"power_l{n}": phase.active_power_w,
            f"apparent_l{n}": phase.apparent_power_va,
            f"reactive_l{n}": phase.reactive_power_var,
            f"pf_l{n}": phase.power_factor,
            f"import_kwh_l{n}": reading.phase_energy[n - 1].active_import_wh / 1000,
            f"export_kwh_l{n}": reading.phase_energy[n - 1].active_export_wh / 1000,
        }
    values |= {
        "power_total": reading.active_power_w,
        "apparent_total": reading.apparent_power_va,
        "reactive_total": reading.reactive_power_var,
        "pf_total": reading.power_factor,
        "frequency": reading.frequency_hz,
        "import_kwh": reading.energy.active_import_wh / 1000,
        "export_kwh": reading.energy.active_export_wh / 1000,
        "import_kvarh": reading.energy.reactive_import_varh / 1000,
        "export_kvarh": reading.energy.reactive_export_varh / 1000,
        "total_kvah": (reading.energy.apparent_import_vah + reading.energy.apparent_export_vah) / 1000,
    }
    return values


def values_to_reading(values: Mapping[str, float]) -> MeterReading:
    """The SDM630 does not split apparent energy by direction: it is counted as import."""
    phases = tuple(
        PhaseReading(
            voltage_v=values[f"voltage_l{n}"],
            current_a=values[f"current_l{n}"],
            active_power_w=values[f"power_l{n}"],
            reactive_power_var=values[f"reactive_l{n}"],
            apparent_power_va=values[f"apparent_l{n}"],
            power_factor=values[f"pf_l{n}"],
        )
        for n in (1, 2, 3)
    )
    phase_energy = tuple(
        EnergyCounters(
            active_import_wh=values[f"import_kwh_l{n}"] * 1000, active_export_wh=values[f"export_kwh_l{n}"] * 1000
        )
        for n in (1, 2, 3)
    )
    return MeterReading(
        active_power_w=values["power_total"],
        reactive_power_var=values["reactive_total"],
        apparent_power_va=values["apparent_total"],
        power_factor=values["pf_total"],
        frequency_hz=values["frequency"],
        phases=(phases[0], phases[1], phases[2]),
        energy=EnergyCounters(
            active_import_wh=values["import_kwh"] * 1000,
            active_export_wh=values["export_kwh"] * 1000,
            reactive_import_varh=values["import_kvarh"] * 1000,
            reactive_export_varh=values["export_kvarh"] * 1000,
            apparent_import_vah=values["total_kvah"] * 1000,
        ),
        phase_energy=(phase_energy[0], phase_energy[1], phase_energy[2]),
    )
