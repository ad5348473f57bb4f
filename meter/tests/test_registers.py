"""The KSEM register map encodes and decodes every value with its documented type and scale."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy.state import DeviceInfo, EnergyCounters, MeterReading, PhaseReading
from meter import registers

power = st.floats(min_value=-200_000, max_value=200_000, allow_nan=False).map(lambda v: round(v, 1))
phases = st.builds(
    PhaseReading,
    voltage_v=st.floats(0, 500).map(lambda v: round(v, 3)),
    current_a=st.floats(0, 400).map(lambda v: round(v, 3)),
    active_power_w=power,
    reactive_power_var=power,
    apparent_power_va=st.floats(0, 200_000).map(lambda v: round(v, 1)),
    power_factor=st.floats(-1, 1).map(lambda v: round(v, 3)),
)
energy = st.floats(0, 1e12).map(lambda v: round(v, 1))
counters = st.builds(EnergyCounters, energy, energy, energy, energy, energy, energy)
readings = st.builds(
    MeterReading,
    active_power_w=power,
    reactive_power_var=power,
    apparent_power_va=st.floats(0, 200_000).map(lambda v: round(v, 1)),
    power_factor=st.floats(-1, 1).map(lambda v: round(v, 3)),
    frequency_hz=st.floats(45, 65).map(lambda v: round(v, 3)),
    phases=st.tuples(phases, phases, phases),
    energy=counters,
    phase_energy=st.tuples(counters, counters, counters),
)


@given(readings)
def test_reading_round_trip(reading):
    image = registers.encode_reading(reading)
    assert all(0 <= word <= 0xFFFF for word in image.values())
    assert registers.decode_reading(image) == reading


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("active_power_plus", 1234.5, [0, 12345]),
        ("power_factor", -0.5, [0xFFFF, 0xFE0C]),
        ("frequency", 50.0, [0, 50000]),
        ("energy_active_import_wh", 6553.6, [0, 0, 1, 0]),
        ("current_l1", 70.0, [1, 4464]),
    ],
)
def test_words_are_big_endian_high_word_first(name, value, words):
    spec = registers.spec_by_name()[name]
    image = registers.pack([spec], {name: value})
    assert [image[spec.address + i] for i in range(spec.count)] == words


def test_feed_in_goes_to_the_minus_registers():
    reading = MeterReading(
        -1500.0, 0.0, 1500.0, 1.0, 50.0,
        (PhaseReading(230.0, 2.174, -500.0, 0.0, 500.0, 1.0),) * 3,
        EnergyCounters(), (EnergyCounters(),) * 3,
    )  # fmt: skip
    values = registers.unpack(registers.KSEM_SPECS, registers.encode_reading(reading))
    assert (values["active_power_plus"], values["active_power_minus"]) == (0.0, 1500.0)
    assert (values["apparent_power_plus_l2"], values["apparent_power_minus_l2"]) == (0.0, 500.0)


def test_read_blocks_cover_the_map_within_one_pdu_each():
    covered = {a for start, count in registers.KSEM_READ_BLOCKS for a in range(start, start + count)}
    needed = {spec.address + i for spec in registers.KSEM_SPECS for i in range(spec.count)}
    assert needed <= covered
    assert all(count <= registers.MAX_READ_COUNT for _, count in registers.KSEM_READ_BLOCKS)


def test_device_info_strings_fill_their_sixteen_registers():
    info = DeviceInfo(42, 7, 2, 260, "KOSTAL", "KSEM", "SIM-0001")
    image = registers.encode_device_info(info)
    assert len(image) == 58
    assert registers.decode_device_info(image) == info
