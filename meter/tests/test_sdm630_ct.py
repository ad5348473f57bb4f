"""Meter drivers of MET-2: the Eastron SDM630 over Modbus RTU (against the simulated SDM630) and
current-transformer ratios."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from energy.state import EnergyCounters, MeterReading, PhaseReading
from meter import ct, sdm630
from meter.drivers import meter_driver
from meter.drivers.ksem_tcp import MeterError, MeterSample
from meter.drivers.sdm630_rtu import Sdm630Config, Sdm630RtuMeter
from meter.models import Meter
from simulator.model import PlantModel
from simulator.runner import Simulator

NOON = dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.UTC)


def reading(power_w: float = 3000.0) -> MeterReading:
    phases = tuple(PhaseReading(230.0 + n, 4.5 + n, power_w / 3, 120.0, power_w / 3 + 50, 0.97) for n in range(3))
    return MeterReading(
        active_power_w=power_w,
        reactive_power_var=360.0,
        apparent_power_va=power_w + 150,
        power_factor=0.97,
        frequency_hz=50.02,
        phases=(phases[0], phases[1], phases[2]),
        energy=EnergyCounters(1000.0, 2000.0, 300.0, 400.0, 5000.0, 0.0),
        phase_energy=(EnergyCounters(100.0, 200.0), EnergyCounters(110.0, 210.0), EnergyCounters(120.0, 220.0)),
    )


def test_sdm630_map_round_trips_within_float32():
    original = reading()
    decoded = sdm630.values_to_reading(sdm630.decode(sdm630.encode(sdm630.reading_to_values(original))))
    assert decoded.active_power_w == pytest.approx(original.active_power_w, rel=1e-6)
    assert decoded.phases[2].voltage_v == pytest.approx(232.0, rel=1e-6)
    assert decoded.energy.active_export_wh == pytest.approx(2000.0, rel=1e-6)
    assert decoded.phase_energy[1].active_import_wh == pytest.approx(110.0, rel=1e-6)


async def test_the_sdm630_driver_reads_the_simulated_sdm630():
    model = PlantModel(seed=3, start=NOON)
    simulator = Simulator(model, meter_port=0, inverter_port_base=0, clock=False, sdm630_port=0)
    await simulator.start()
    meter = Sdm630RtuMeter(Sdm630Config(port=f"socket://127.0.0.1:{simulator.port_of('sdm630')}", timeout_s=1.0))
    try:
        sample = await meter.read()
    finally:
        meter.close()
        await simulator.stop()
    expected, _flow = model.snapshot()
    assert sample.flow is None
    assert sample.reading.active_power_w == pytest.approx(expected.active_power_w, abs=0.01)
    assert sample.reading.phases[0].current_a == pytest.approx(expected.phases[0].current_a, rel=1e-6)
    assert sample.reading.energy.active_import_wh == pytest.approx(expected.energy.active_import_wh, rel=1e-6)


async def test_an_unreachable_sdm630_is_a_meter_error():
    meter = Sdm630RtuMeter(Sdm630Config(port="socket://127.0.0.1:1", timeout_s=0.2))
    with pytest.raises(MeterError):
        await meter.read()
    meter.close()


def test_ct_ratio_scales_currents_powers_and_energies_only():
    scaled = ct.scale_reading(reading(), ct.ratio(400))  # 400/5 A: x80
    assert scaled.phases[0].current_a == pytest.approx(4.5 * 80)
    assert scaled.phases[0].voltage_v == 230.0 and scaled.power_factor == 0.97 and scaled.frequency_hz == 50.02
    assert scaled.active_power_w == pytest.approx(3000.0 * 80)
    assert scaled.energy.active_export_wh == pytest.approx(2000.0 * 80)
    assert scaled.phase_energy[2].active_import_wh == pytest.approx(120.0 * 80)
    assert ct.scale_reading(reading(), ct.ratio(None)) == reading()
    assert ct.ratio(5) == 1.0
    for bad in (0, 5001):
        with pytest.raises(ValueError, match="1-5000"):
            ct.ratio(bad)


class _Fixed:
    name = "fixed"

    async def read(self) -> MeterSample:
        return MeterSample(reading=reading(), flow=None)

    async def write(self, setpoints) -> None:
        return None

    def close(self) -> None:
        return None


async def test_a_meter_behind_cts_reports_primary_values():
    from meter.drivers.ct import CtScaledMeter

    sample = await CtScaledMeter(_Fixed(), 100).read()
    assert sample.reading.active_power_w == pytest.approx(3000.0 * 20)
    driver = meter_driver(Sdm630Config(port="/dev/null"), ct_primary_a=200)
    assert isinstance(driver, CtScaledMeter) and driver.factor == 40
    driver.close()


@pytest.mark.django_db
def test_meter_model_validates_ct_ratio_and_rtu_line():
    from plant.models import Plant

    meter = Meter(plant=Plant.objects.create(name="ct"), driver=Meter.Driver.SDM630_RTU, ct_primary_a=6000)
    with pytest.raises(ValidationError) as error:
        meter.full_clean()
    assert {"ct_primary_a", "serial_port"} <= set(error.value.message_dict)
