"""SunSpec: the image layout as data, and discovery by an independent client (pysunspec2)."""

from __future__ import annotations

import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from energy.state import DeviceInfo, EnergyCounters, MeterReading, PhaseReading
from meter.sunspec import (
    COMMON_MODEL,
    NOT_IMPLEMENTED_ACC32,
    NOT_IMPLEMENTED_INT16,
    SUNSPEC_BASE,
    WYE_METER_MODEL,
    encode_sunspec,
)
from simulator.testing import SimulatorHandle

INFO = DeviceInfo(vendor="KOSTAL", product="KSEM", serial="SIM0000042", firmware_version=206)


def reading(power_w: float, import_wh: float = 1234567.8) -> MeterReading:
    phase = PhaseReading(230.1, abs(power_w) / 3 / 230.1, power_w / 3, 0.0, abs(power_w) / 3, 1.0)
    energy = EnergyCounters(active_import_wh=import_wh, active_export_wh=4321.0)
    return MeterReading(power_w, 0.0, abs(power_w), 1.0, 50.01, (phase, phase, phase), energy, (energy, energy, energy))


def int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def test_layout_matches_ksem_firmware_2_6() -> None:
    image = encode_sunspec(reading(1500.0), INFO)
    assert [image[40000], image[40001]] == [0x5375, 0x6E53]  # "SunS"
    assert [image[40002], image[40003]] == [1, 66]
    assert [image[40070], image[40071]] == [203, 105]
    assert [image[40177], image[40178]] == [0xFFFF, 0]
    assert max(image) == SUNSPEC_BASE + 178
    # Addresses from modbus.md 1.5 (FW >= 2.6 column).
    assert SUNSPEC_BASE + 70 + WYE_METER_MODEL.offset("W") == 40088
    assert SUNSPEC_BASE + 70 + WYE_METER_MODEL.offset("TotWhExp") == 40108
    assert SUNSPEC_BASE + 70 + WYE_METER_MODEL.offset("TotWhImp") == 40116
    assert SUNSPEC_BASE + 70 + WYE_METER_MODEL.offset("TotWh_SF") == 40124
    assert COMMON_MODEL.length == 66


def test_values_scaled_and_unsupported_points_marked() -> None:
    image = encode_sunspec(reading(-1500.0), INFO)
    model = SUNSPEC_BASE + 70

    def at(point: str) -> int:
        return image[model + WYE_METER_MODEL.offset(point)]

    assert int16(at("W")) * 10 ** int16(at("W_SF")) == -1500
    assert int16(at("PhVphA")) * 10 ** int16(at("V_SF")) == pytest.approx(230.1)
    assert at("PhVphAB") == NOT_IMPLEMENTED_INT16
    high, low = at("TotVArhImpQ1"), image[model + WYE_METER_MODEL.offset("TotVArhImpQ1") + 1]
    assert (high << 16 | low) == NOT_IMPLEMENTED_ACC32
    high, low = at("TotWhImp"), image[model + WYE_METER_MODEL.offset("TotWhImp") + 1]
    assert (high << 16 | low) * 10 ** int16(at("TotWh_SF")) == 1234568


@pytest.mark.parametrize("power_w", [32_000.0, 45_000.0, -250_000.0])
def test_scale_factor_grows_so_large_powers_fit_int16(power_w: float) -> None:
    image = encode_sunspec(reading(power_w), INFO)
    model = SUNSPEC_BASE + 70
    raw, factor = int16(image[model + 18]), int16(image[model + 22])
    assert abs(raw) <= 0x7FFF
    assert raw * 10.0**factor == pytest.approx(power_w, rel=1e-3)


def test_pysunspec2_discovers_the_meter(sim: SimulatorHandle) -> None:
    sim.model.override(
        pv_power_w=1000, house_power_w=2500, wallbox_power_w=0, battery_power_w=0, voltage_v=230.0, frequency_hz=50.0
    )
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr=sim.host, ipport=sim.port, timeout=5)
    try:
        device.scan()
    finally:
        device.close()
    expected = sim.model.reading()

    assert device.base_addr == 40000
    common = device.common[0]
    assert common.Mn.value == "KOSTAL"
    assert common.Md.value == "KSEM"
    assert common.SN.value == sim.model.device_info().serial
    meter = device.models[203][0]
    assert meter.model_addr == 40070
    assert meter.W.cvalue == pytest.approx(1500, abs=1)
    assert meter.WphA.cvalue + meter.WphB.cvalue + meter.WphC.cvalue == pytest.approx(1500, abs=3)
    assert meter.PhVphB.cvalue == pytest.approx(230.0)
    assert meter.Hz.cvalue == pytest.approx(50.0)
    assert meter.TotWhImp.cvalue == pytest.approx(expected.energy.active_import_wh, abs=2)
    assert meter.TotWhExp.cvalue == pytest.approx(expected.energy.active_export_wh, abs=2)
