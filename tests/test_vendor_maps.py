"""The code's register maps checked against the vendors' published tables (issue 13, part 7).

The simulator, the drivers and the generated docs share one map per device, so a wrong address
there is served, read and documented the same way and no test against the simulator can see
it. ``tests/vendor_maps/*.csv`` are the vendors' tables, transcribed by hand from the published
documents (each row names its source) and independent of the code: every register the code
knows must be there with the same size, type, scale and unit; decoding an image built from the
vendor's table alone must give the vendor's values.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inverters import registers as kostal
from inverters import sunspec as inverter_sunspec
from meter import registers as ksem
from meter import sdm630
from meter import sunspec as meter_sunspec
from wallbox import registers as enector

VENDOR_MAPS = Path(__file__).parent / "vendor_maps"
DOCS = Path(__file__).resolve().parents[1] / "docs"

# Registers this product adds to a vendor's map on purpose (each documented where named).
PRODUCT_EXTENSIONS = {
    "ksem_flow": {41013: "devices_present: which device values are real (docs/modbus.md)"},
}


@dataclass(frozen=True)
class Row:
    address: int
    count: int
    types: frozenset[str]  # "u16|u32": the vendor's table leaves it open
    scale: float
    unit: str
    access: str
    name: str
    source: str


def rows(name: str) -> dict[int, Row]:
    table: dict[int, Row] = {}
    for record in _records(name):
        row = Row(
            address=int(record["address"], 0),
            count=int(record["count"]),
            types=frozenset(record["type"].split("|")),
            scale=float(record["scale"]),
            unit=record["unit"],
            access=record.get("access") or "R",
            name=record["name"],
            source=record["source"],
        )
        assert row.address not in table, f"{name}.csv lists {row.address} twice"
        table[row.address] = row
    return table


def _records(name: str) -> Iterator[dict[str, str]]:
    with (VENDOR_MAPS / f"{name}.csv").open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    for record in csv.DictReader(lines):
        assert record["source"], f"{name}.csv: a row without its source: {record}"
        yield record


def by_name(table: dict[int, Row], name: str) -> Row:
    (row,) = (r for r in table.values() if r.name == name)
    return row


def test_every_vendor_table_is_well_formed() -> None:
    for path in sorted(VENDOR_MAPS.glob("*.csv")):
        if path.stem == "sunspec":
            continue
        table = rows(path.stem)
        assert table, path
        spans = sorted((row.address, row.address + row.count) for row in table.values())
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"{path.name}: overlapping registers at {start}"


# --- KSEM -------------------------------------------------------------------------------------
KSEM_TABLE = rows("ksem")
FLOW_TABLE = rows("ksem_flow")


def _check(spec_address: int, count: int, dtype: str, scale: float, unit: str, row: Row | None, where: str) -> None:
    assert row is not None, f"{where}: register {spec_address} is not in the vendor's table"
    assert count == row.count, f"{where} {spec_address}: {count} registers vs vendor {row}"
    assert unit in row.unit.split("|"), f"{where} {spec_address}: unit {unit!r} vs vendor {row}"
    assert dtype in row.types, f"{where} {spec_address}: type {dtype} vs vendor {set(row.types)} ({row.name})"
    assert math.isclose(scale, row.scale), f"{where} {spec_address}: scale {scale} vs vendor {row.scale} ({row.name})"


def test_the_ksem_map_is_the_vendors() -> None:
    specs = ksem.KSEM_SPECS + ksem.PNP_SPECS
    for spec in specs:
        _check(spec.address, spec.count, spec.dtype, spec.scale, spec.unit, KSEM_TABLE.get(spec.address), "KSEM")
    # ... and nothing of the vendor's instantaneous, energy and PnP registers is missing.
    assert {spec.address for spec in specs} == set(KSEM_TABLE)


def test_the_energy_flow_block_is_the_vendors() -> None:
    extensions = PRODUCT_EXTENSIONS["ksem_flow"]
    for spec in ksem.FLOW_SPECS:
        if spec.address in extensions:
            assert spec.address not in FLOW_TABLE, "an extension must not shadow a vendor register"
            continue
        _check(spec.address, spec.count, spec.dtype, spec.scale, spec.unit, FLOW_TABLE.get(spec.address), "0xA000")


def _encode(row: Row, raw: int) -> list[int]:
    words = row.count
    return [(raw >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]


def test_a_ksem_image_built_from_the_vendor_table_decodes_to_the_vendors_values() -> None:
    """Every instantaneous and energy register gets a distinct raw value at the vendor's address;
    the driver's decoder must read the quantity the vendor defines there."""
    image: dict[int, int] = {}
    raw_of: dict[int, int] = {}
    for n, row in enumerate(sorted(KSEM_TABLE.values(), key=lambda r: r.address)):
        if "str" in row.types:
            continue
        raw = 1000 + 37 * n
        if row.unit == "" and "s32" in row.types:  # a power factor: |cos phi| <= 1
            raw = 950 - n
        if row.unit == "Hz":
            raw = 50_012
        if row.unit == "V":
            raw = 230_000 + n
        raw_of[row.address] = raw
        for i, word in enumerate(_encode(row, raw)):
            image[row.address + i] = word
    reading = ksem.decode_reading(image)

    def value(name: str) -> float:
        row = by_name(KSEM_TABLE, name)
        return raw_of[row.address] * row.scale

    assert reading.active_power_w == pytest.approx(
        value("Active power + (1-0:1.4.0)") - value("Active power - (1-0:2.4.0)")
    )
    assert reading.frequency_hz == pytest.approx(value("Supply frequency (1-0:14.4.0)"))
    assert reading.power_factor == pytest.approx(value("Power factor (1-0:13.4.0)"))
    obis_phase = {1: (21, 31, 32, 33), 2: (41, 51, 52, 53), 3: (61, 71, 72, 73)}
    for phase, (p_plus, current, voltage, pf) in obis_phase.items():
        got = reading.phases[phase - 1]
        assert got.current_a == pytest.approx(value(f"Current L{phase} (1-0:{current}.4.0)"))
        assert got.voltage_v == pytest.approx(value(f"Voltage L{phase} (1-0:{voltage}.4.0)"))
        assert got.power_factor == pytest.approx(value(f"Power factor L{phase} (1-0:{pf}.4.0)"))
        assert got.active_power_w == pytest.approx(
            value(f"Active power + L{phase} (1-0:{p_plus}.4.0)")
            - value(f"Active power - L{phase} (1-0:{p_plus + 1}.4.0)")
        )
        energy = reading.phase_energy[phase - 1]
        assert energy.active_import_wh == pytest.approx(value(f"Active energy + L{phase} (1-0:{p_plus}.8.0)"))
        assert energy.active_export_wh == pytest.approx(value(f"Active energy - L{phase} (1-0:{p_plus + 1}.8.0)"))
    assert reading.energy.active_import_wh == pytest.approx(value("Active energy + (1-0:1.8.0)"))
    assert reading.energy.active_export_wh == pytest.approx(value("Active energy - (1-0:2.8.0)"))
    assert reading.energy.reactive_import_varh == pytest.approx(value("Reactive energy + (1-0:3.8.0)"))
    assert reading.energy.apparent_export_vah == pytest.approx(value("Apparent energy - (1-0:10.8.0)"))


def _docs_table() -> list[tuple[int, int, str, str, float, str]]:
    text = (DOCS / "modbus.md").read_text(encoding="utf-8")
    start = text.index("Generated from `meter/registers.py`")
    table: list[tuple[int, int, str, str, float, str]] = []
    for line in text[start:].splitlines()[1:]:
        match = re.match(
            r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*([^|]*?)\s*\|", line
        )
        if match:
            address, count, name, dtype, scale, unit = match.groups()
            table.append((int(address), int(count), name, dtype, float(scale), unit))
        elif table and not line.startswith("|"):
            break
    return table


def test_the_documented_map_is_the_vendors() -> None:
    """docs/modbus.md's register table (generated from the code) against the vendor's tables."""
    table = _docs_table()
    assert len(table) >= 70
    vendor = KSEM_TABLE | FLOW_TABLE
    for address, count, name, dtype, scale, unit in table:
        if address in PRODUCT_EXTENSIONS["ksem_flow"]:
            continue
        _check(address, count, dtype, scale, unit, vendor.get(address), f"docs/modbus.md {name}")
    assert {row[0] for row in table} >= set(KSEM_TABLE), "the docs leave out vendor registers the code serves"


# --- PLENTICORE / PIKO IQ ---------------------------------------------------------------------
PLENTICORE_TABLE = rows("plenticore")


def test_the_plenticore_map_is_kostals() -> None:
    for register in kostal.REGISTERS:
        row = PLENTICORE_TABLE.get(register.address)
        _check(register.address, register.count, register.dtype, 1.0, register.unit, row, f"KOSTAL {register.name}")
        assert row is not None
        assert register.writable == ("W" in row.access), f"{register.name}: writable vs vendor {row.access}"


@pytest.mark.parametrize("word_order", [kostal.WORD_ORDER_CDAB, kostal.WORD_ORDER_ABCD])
def test_a_plenticore_image_built_from_kostals_table_decodes_to_kostals_values(word_order: str) -> None:
    floats = {
        "Total DC power": 7345.5,
        "Grid frequency": 50.02,
        "Total AC active power": 6987.25,
        "Act. state of charge": 63.0,
        "Battery charge power (DC) setpoint absolute": -2500.0,
        "Total DC power (sum of all PV inputs)": 7300.0,
    }
    ints = {
        "Battery actual SOC": 63,
        "Active power setpoint (1-100 %; FC 0x06)": 70,
        "Actual battery charge/discharge power": (-2400) & 0xFFFF,
        "Battery management mode (0 none; 1 digital I/O; 2 MODBUS)": 2,
        "Inverter max power": 10000,
    }
    image: dict[int, int] = {}
    for name, number in floats.items():
        high, low = struct.unpack(">2H", struct.pack(">f", number))
        address = by_name(PLENTICORE_TABLE, name).address
        image[address], image[address + 1] = (low, high) if word_order == kostal.WORD_ORDER_CDAB else (high, low)
    for name, word in ints.items():
        image[by_name(PLENTICORE_TABLE, name).address] = word
    values = kostal.decode(image, None, word_order)
    assert values["dc_power"] == pytest.approx(7345.5)
    assert values["grid_frequency"] == pytest.approx(50.02, abs=1e-4)
    assert values["ac_power"] == pytest.approx(6987.25)
    assert values["battery_soc"] == pytest.approx(63.0)
    assert values["battery_setpoint"] == pytest.approx(-2500.0)
    assert values["pv_dc_power"] == pytest.approx(7300.0)
    assert values["battery_soc_pct"] == 63
    assert values["active_power_setpoint"] == 70
    assert values["battery_power"] == -2400
    assert values["battery_mode"] == 2
    assert values["max_power"] == 10000


# --- SunSpec ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SunSpecRow:
    offset: int
    count: int
    dtype: str
    scale_factor: str


def sunspec_models() -> dict[int, dict[str, SunSpecRow]]:
    models: dict[int, dict[str, SunSpecRow]] = {}
    for record in _records("sunspec"):
        points = models.setdefault(int(record["model"]), {})
        assert record["name"] not in points
        points[record["name"]] = SunSpecRow(
            int(record["offset"]), int(record["count"]), record["type"], record["scale_factor"]
        )
    return models


SUNSPEC = sunspec_models()
CODE_MODELS: dict[str, Any] = {
    "inverter 1": inverter_sunspec.COMMON,
    "inverter 103": inverter_sunspec.INVERTER_3P,
    "inverter 120": inverter_sunspec.NAMEPLATE,
    "inverter 123": inverter_sunspec.CONTROLS,
    "inverter 124": inverter_sunspec.STORAGE,
    "inverter 160": inverter_sunspec.mppt_layout(1),
    "inverter 802": inverter_sunspec.BATTERY,
    "meter 1": meter_sunspec.COMMON_MODEL,
    "meter 203": meter_sunspec.WYE_METER_MODEL,
}


@pytest.mark.parametrize("label", list(CODE_MODELS))
def test_sunspec_models_are_the_official_ones(label: str) -> None:
    layout = CODE_MODELS[label]
    vendor = SUNSPEC[layout.model_id]
    assert [p.name for p in layout.points] == sorted(vendor, key=lambda name: vendor[name].offset)
    for point in layout.points:
        row = vendor[point.name]
        assert layout.offset(point.name) == row.offset, f"{label} {point.name}"
        assert (point.size, point.dtype) == (row.count, row.dtype), f"{label} {point.name}"
        assert (point.scale_factor or "") == row.scale_factor, f"{label} {point.name}"
    # The model length L: everything after the ID and L registers.
    assert layout.length == max(row.offset + row.count for row in vendor.values()) - 2


def test_the_ksem_sunspec_chain_has_the_published_addresses() -> None:
    """KSEM firmware 2.6 and later: model 1 at 40002, model 203 at 40070, W at 40088."""
    model_203 = meter_sunspec.SUNSPEC_BASE + 2 + 2 + meter_sunspec.COMMON_MODEL.length
    assert model_203 == 40070
    layout = meter_sunspec.WYE_METER_MODEL
    assert model_203 + layout.offset("W") == 40088
    assert model_203 + layout.offset("TotWhExp") == 40108
    assert model_203 + layout.offset("TotWhImp") == 40116
    assert model_203 + layout.offset("TotWh_SF") == 40124


# --- Eastron SDM630 ---------------------------------------------------------------------------
SDM630_TABLE = rows("sdm630")
# The code's names for the vendor's parameters (what each point means), written down once here.
SDM630_LINKS = {
    "voltage_l1": "Phase 1 line to neutral volts",
    "voltage_l2": "Phase 2 line to neutral volts",
    "voltage_l3": "Phase 3 line to neutral volts",
    "current_l1": "Phase 1 current",
    "current_l2": "Phase 2 current",
    "current_l3": "Phase 3 current",
    "power_l1": "Phase 1 power",
    "power_l2": "Phase 2 power",
    "power_l3": "Phase 3 power",
    "apparent_l1": "Phase 1 volt amps",
    "apparent_l2": "Phase 2 volt amps",
    "apparent_l3": "Phase 3 volt amps",
    "reactive_l1": "Phase 1 volt amps reactive",
    "reactive_l2": "Phase 2 volt amps reactive",
    "reactive_l3": "Phase 3 volt amps reactive",
    "pf_l1": "Phase 1 power factor",
    "pf_l2": "Phase 2 power factor",
    "pf_l3": "Phase 3 power factor",
    "power_total": "Total system power",
    "apparent_total": "Total system volt amps",
    "reactive_total": "Total system VAr",
    "pf_total": "Total system power factor",
    "frequency": "Frequency of supply voltages",
    "import_kwh": "Import active energy",
    "export_kwh": "Export active energy",
    "import_kvarh": "Import reactive energy",
    "export_kvarh": "Export reactive energy",
    "total_kvah": "VAh since last reset",
    "import_kwh_l1": "L1 import kWh",
    "import_kwh_l2": "L2 import kWh",
    "import_kwh_l3": "L3 import kWh",
    "export_kwh_l1": "L1 export kWh",
    "export_kwh_l2": "L2 export kWh",
    "export_kwh_l3": "L3 export kWh",
}


def test_the_sdm630_map_is_eastrons() -> None:
    points = dict((name, address) for address, name in sdm630.POINTS)
    assert set(points) == set(SDM630_LINKS), "every point the code reads is linked to Eastron's table"
    for name, vendor_name in SDM630_LINKS.items():
        row = by_name(SDM630_TABLE, vendor_name)
        assert points[name] == row.address, f"{name} at {points[name]:#06x}, Eastron: {row.address:#06x}"
        assert row.types == {"float"} and row.count == 2
    covered = {start + i for start, count in sdm630.READ_BLOCKS for i in range(count)}
    assert all({a, a + 1} <= covered for a in points.values()), "the reads cover every point"
    assert all(count <= 80 for _, count in sdm630.READ_BLOCKS), "Eastron: at most 40 parameters per request"


def test_an_sdm630_image_built_from_eastrons_table_decodes_to_eastrons_values() -> None:
    image: dict[int, int] = {}
    expected: dict[str, float] = {}
    for n, (name, vendor_name) in enumerate(SDM630_LINKS.items()):
        row = by_name(SDM630_TABLE, vendor_name)
        number = 100.5 + n
        image[row.address], image[row.address + 1] = struct.unpack(">2H", struct.pack(">f", number))
        expected[name] = number
    assert sdm630.decode(image) == pytest.approx(expected)


# --- ENECTOR (MENNEKES AMTRON Compact 2.0s) ---------------------------------------------------
ENECTOR_TABLE = rows("enector")
ENECTOR_LINKS = {
    "LAYOUT_VERSION": "Modbus register-layout version",
    "FIRMWARE_VERSION": "Firmware version",
    "SERIAL_NUMBER": "Serial number",
    "EVSE_STATE": "EVSE state",
    "AUTHORIZATION_STATUS": "Authorization status",
    "DOWNGRADE_STATUS": "Downgrade status",
    "PHASE_ROTATION": "Phase rotation",
    "CP_STATE": "CP state",
    "SIGNALED_CURRENT": "Signaled current",
    "DOWNGRADE_CURRENT": "Downgrade current",
    "CHARGING_CURRENT_EM": "Charging current energy manager",
    "MAX_CURRENT_HOUSE": "Max current house (DIP)",
    "MAX_CURRENT_EVSE": "Max current EVSE",
    "PHASE_SWITCHING_MODE": "Phase switching mode (solar)",
    "PHASE_OPTIONS_HW": "Phase options HW",
    "MASTER_LOST_FALLBACK_CURRENT": "Master-lost fallback current",
    "GRID_PHASES_CONNECTED": "Grid phases connected",
    "CURRENT_L1": "Current L1",
    "VOLTAGE_L1": "Voltage L1",
    "POWER_L1": "Power L1",
    "POWER_TOTAL": "Power overall",
    "FALLBACK_CURRENT_SETTING": "Fallback current master lost (setting)",
    "TEMPERATURE": "Temperature",
    "SESSION_MAX_CURRENT": "Max current session",
    "SESSION_ENERGY": "Charged energy session",
    "SESSION_DURATION": "Duration session",
    "DETECTED_EV_PHASES": "Detected EV phases",
    "HEARTBEAT": "Heartbeat (write 0x55AA at least every 10 s)",
    "CABLE_LOCK": "Cable lock status",
    "SOLAR_CHARGING_MODE": "Solar charging mode",
    "REQUESTED_PHASES": "Requested phases (0 all; 1 force 1-phase)",
    "CHARGING_RELEASE": "Charging release energy manager (0 not allowed; 1 allowed)",
    "LOCK_EVSE": "Lock EVSE",
    "SYSTEM_RESTART": "System restart (write 0xBB; idle only)",
    "ERROR_CODE": "Active error code",
    "FALLBACK_ACTIVE": "Master-lost fallback active",
    "SWITCHED_PHASES": "Switched phases (0 all; 1 single)",
    "TOTAL_ENERGY": "Charged energy total",
    "SESSIONS_TOTAL": "Charging sessions total",
}
# Constants of wallbox.registers that are not register addresses of the public map.
ENECTOR_NOT_ADDRESSES = {
    "BAUDRATE",
    "BYTESIZE",
    "STOPBITS",
    "FACTORY_ADDRESS",
    "MIN_ADDRESS",
    "MAX_ADDRESS",
    "MAX_READ_COUNT",
    "MAX_WRITE_COUNT",
    "FIRMWARE_REGISTERS",
    "SERIAL_REGISTERS",
    "HEARTBEAT_VALUE",
    "RESTART_VALUE",
    "ERROR_EV_OUT_OF_DUTY_RANGE",
}


def test_the_enector_map_is_mennekes() -> None:
    for constant, vendor_name in ENECTOR_LINKS.items():
        address = getattr(enector, constant)
        row = by_name(ENECTOR_TABLE, vendor_name)
        assert address == row.address, f"{constant} = {address:#06x}, MENNEKES: {row.address:#06x}"
    assert by_name(ENECTOR_TABLE, "Firmware version").count == enector.FIRMWARE_REGISTERS
    assert by_name(ENECTOR_TABLE, "Serial number").count == enector.SERIAL_REGISTERS
    # Every other address constant below the product's own vendor block must be linked too.
    unlinked = {
        name
        for name, value in vars(enector).items()
        if name.isupper()
        and isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value < enector.VENDOR_BLOCK_START
        and name not in ENECTOR_LINKS
        and name not in ENECTOR_NOT_ADDRESSES
        and not name.startswith(("FW_", "FIRMWARE_", "VENDOR_"))
    }
    assert not unlinked, f"constants not checked against MENNEKES' table: {sorted(unlinked)}"
    # The state reads cover only addresses of the public map (a box answers others with exception 2).
    public = {row.address + i for row in ENECTOR_TABLE.values() for i in range(row.count)}
    for start, count in enector.STATE_BLOCKS:
        unknown = [hex(a) for a in range(start, start + count) if a not in public]
        # Gaps inside a block are answered by a real box (it reads a range); only the ends must be real.
        assert start in public and start + count - 1 in public, f"block {start:#06x}+{count}: {unknown}"


def test_an_enector_image_built_from_mennekes_table_decodes_to_its_values() -> None:
    floats = {
        "Signaled current": 16.0,
        "Charging current energy manager": 13.5,
        "Max current house (DIP)": 16.0,
        "Max current EVSE": 16.0,
        "Current L1": 13.1,
        "Current L2": 13.2,
        "Current L3": 13.3,
        "Voltage L1": 231.0,
        "Voltage L2": 232.0,
        "Voltage L3": 233.0,
        "Power L1": 3000.0,
        "Power L2": 3050.0,
        "Power L3": 3070.0,
        "Power overall": 9120.0,
        "Charged energy session": 12.25,
        "Charged energy total": 4321.5,
    }
    words = {
        "EVSE state": 5,
        "CP state": 28,
        "Phase options HW": 2,
        "Master-lost fallback current": 6,
        "Grid phases connected": 2,
        "Detected EV phases": 3,
        "Requested phases (0 all; 1 force 1-phase)": 0,
        "Charging release energy manager (0 not allowed; 1 allowed)": 1,
        "Lock EVSE": 0,
        "Active error code": 0,
        "Master-lost fallback active": 0,
        "Switched phases (0 all; 1 single)": 0,
    }
    longs = {"Duration session": 5400, "Charging sessions total": 77}
    image = {start + i: 0 for start, count in enector.STATE_BLOCKS for i in range(count)}
    for name, number in floats.items():
        row = by_name(ENECTOR_TABLE, name)
        assert row.types == {"float"}
        image[row.address], image[row.address + 1] = struct.unpack(">2H", struct.pack(">f", number))
    for name, word in words.items():
        row = by_name(ENECTOR_TABLE, name)
        assert row.types == {"u16"}
        image[row.address] = word
    for name, number in longs.items():
        row = by_name(ENECTOR_TABLE, name)
        assert row.types == {"u32"}
        image[row.address], image[row.address + 1] = number >> 16, number & 0xFFFF
    state = enector.decode_state(image)
    assert state.evse_state == 5 and state.cp_state == 28
    assert state.signaled_current_a == pytest.approx(16.0)
    assert state.current_limit_a == pytest.approx(13.5)
    assert state.phase_currents_a == pytest.approx((13.1, 13.2, 13.3))
    assert state.phase_voltages_v == pytest.approx((231.0, 232.0, 233.0))
    assert state.phase_powers_w == pytest.approx((3000.0, 3050.0, 3070.0))
    assert state.power_w == pytest.approx(9120.0)
    assert state.session_energy_wh == pytest.approx(12_250.0)  # kWh on the wire
    assert state.total_energy_wh == pytest.approx(4_321_500.0)
    assert state.session_duration_s == 5400 and state.sessions_total == 77
    assert (state.phase_options, state.fallback_current_setting, state.grid_phases_connected) == (2, 6, 2)
    assert state.detected_vehicle_phases == 3 and state.released and not state.locked
