"""The register maps as data: encode and decode are inverse, and the layouts are SunSpec's."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inverters import registers, sunspec
from inverters.drivers.sunspec import _Model, plan_reads

orders = st.sampled_from([registers.WORD_ORDER_CDAB, registers.WORD_ORDER_ABCD])
floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def _numeric(register: registers.KostalRegister) -> st.SearchStrategy[float | int]:
    return {
        "u16": st.integers(0, 0xFFFF),
        "s16": st.integers(-0x8000, 0x7FFF),
        "u32": st.integers(0, 0xFFFF_FFFF),
        "float": floats32,
    }[register.dtype]


@st.composite
def register_values(draw: st.DrawFn) -> dict[str, registers.Value]:
    chosen = draw(st.lists(st.sampled_from(registers.REGISTERS), unique=True, min_size=1, max_size=12))
    values: dict[str, registers.Value] = {}
    for register in chosen:
        if register.dtype == "str":
            alphabet = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
            values[register.name] = draw(st.text(alphabet, max_size=register.count * 2))
        else:
            values[register.name] = draw(_numeric(register))
    return values


@given(register_values(), orders)
def test_kostal_values_survive_encode_and_decode(values: dict[str, registers.Value], order: str) -> None:
    image = registers.encode(values, order)
    assert registers.decode(image, values, order) == values


def test_kostal_32_bit_values_come_low_word_first_by_default() -> None:
    image = registers.encode({"ac_power": 1.0, "inverter_state": 0x0001_0006})
    assert (image[172], image[173]) == (0x0000, 0x3F80)  # 1.0f = 0x3F800000, CDAB
    assert (image[56], image[57]) == (0x0006, 0x0001)
    abcd = registers.encode({"ac_power": 1.0}, registers.WORD_ORDER_ABCD)
    assert (abcd[172], abcd[173]) == (0x3F80, 0x0000)


def test_kostal_strings_are_two_characters_per_register() -> None:
    image = registers.encode({"product_name": "PLENTICORE plus"})
    assert image[768] == struct.unpack(">H", b"PL")[0]
    assert image[775] == struct.unpack(">H", b"s\0")[0]
    assert registers.decode(image, ["product_name"]) == {"product_name": "PLENTICORE plus"}


def test_kostal_numbers_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="active_power_setpoint"):
        registers.encode({"active_power_setpoint": -1})
    with pytest.raises(ValueError, match="longer than 16"):
        registers.encode({"serial_number": "x" * 17})


def test_the_driver_blocks_cover_what_it_decodes_and_fit_a_request() -> None:
    blocks = [registers.MEASURE_BLOCK, registers.CONTROL_BLOCK, registers.BATTERY_BLOCK, *registers.IDENTITY_BLOCKS]
    covered = {start + i for start, count in blocks for i in range(count)}
    for name in ("dc_power", "ac_power", "battery_soc", "active_power_setpoint", "battery_power", "battery_mode"):
        register = registers.BY_NAME[name]
        assert set(range(register.address, register.end)) <= covered, name
    assert all(count <= registers.MAX_READ_COUNT for _, count in blocks)
    served = {start + i for start, count in registers.SERVED_RANGES for i in range(count)}
    assert covered <= served


@pytest.mark.parametrize(
    ("layout", "length"),
    [
        (sunspec.COMMON, 66),
        (sunspec.INVERTER_3P, 50),
        (sunspec.NAMEPLATE, 26),
        (sunspec.CONTROLS, 24),
        (sunspec.STORAGE, 24),
        (sunspec.BATTERY, 62),
        (sunspec.mppt_layout(2), 48),
    ],
)
def test_sunspec_layouts_have_the_official_lengths(layout: sunspec.ModelLayout, length: int) -> None:
    assert layout.length == length
    assert sunspec.layout_for(layout.model_id, length) == layout


def test_sunspec_offsets_match_the_model_tables() -> None:
    assert sunspec.INVERTER_3P.offset("W") == 14
    assert sunspec.INVERTER_3P.offset("DCW") == 31
    assert sunspec.CONTROLS.offset("WMaxLimPct") == 5
    assert sunspec.CONTROLS.offset("WMaxLim_Ena") == 9
    assert sunspec.BATTERY.offset("SoC") == 11
    assert sunspec.BATTERY.offset("W") == 47
    assert sunspec.STORAGE.offset("OutWRte") == 12


powers = st.floats(-200_000, 200_000, allow_nan=False)


@given(
    w=powers,
    dcw=st.floats(0, 200_000, allow_nan=False),
    hz=st.floats(45, 65),
    st_=st.sampled_from([1, 2, 4, 5]),
)
def test_sunspec_inverter_values_survive_encode_and_decode(w: float, dcw: float, hz: float, st_: int) -> None:
    words = sunspec.encode_model(sunspec.INVERTER_3P, {"W": w, "DCW": dcw, "Hz": hz, "St": st_, "PF": None})
    values = sunspec.decode_model(sunspec.INVERTER_3P, words)
    w_step, dcw_step = 10.0 ** float(values["W_SF"] or 0), 10.0 ** float(values["DCW_SF"] or 0)
    assert values["W"] == pytest.approx(w, abs=w_step / 2 + 1e-9)
    assert values["DCW"] == pytest.approx(dcw, abs=dcw_step / 2 + 1e-9)
    assert values["Hz"] == pytest.approx(hz, abs=0.005 + 1e-9)
    assert values["St"] == st_
    assert values["PF"] is None  # not implemented: 0x8000
    assert words[sunspec.INVERTER_3P.offset("PF")] == 0x8000
    assert words[sunspec.INVERTER_3P.offset("VA")] == 0x8000


@given(pct=st.floats(0, 100), enabled=st.sampled_from([0, 1]))
def test_sunspec_controls_survive_encode_and_decode(pct: float, enabled: int) -> None:
    values = {"WMaxLimPct": pct, "WMaxLim_Ena": enabled, "WMaxLimPct_SF": -2}
    decoded = sunspec.decode_model(sunspec.CONTROLS, sunspec.encode_model(sunspec.CONTROLS, values))
    assert decoded["WMaxLimPct"] == pytest.approx(pct, abs=0.005 + 1e-9)
    assert decoded["WMaxLim_Ena"] == enabled
    assert decoded["Conn"] is None  # enum16 not implemented: 0xFFFF


def test_sunspec_chain_walks_from_the_marker_to_the_end_model() -> None:
    layouts = [sunspec.COMMON, sunspec.INVERTER_3P, sunspec.CONTROLS]
    image = sunspec.encode_chain([(layout, {}) for layout in layouts])
    assert (image[40000], image[40001]) == sunspec.SUNS_MARKER
    address, seen = 40002, []
    while image[address] != sunspec.END_MODEL_ID:
        seen.append(image[address])
        address += 2 + image[address + 1]
    assert seen == [1, 103, 123]
    assert image[address + 1] == 0
    assert len(image) == sunspec.chain_length(layouts)
    assert sunspec.model_addresses(layouts)[103] == 40002 + 68


def test_unscaled_points_without_a_scale_factor_read_as_not_implemented() -> None:
    words = sunspec.encode_model(sunspec.INVERTER_3P, {"W": 1000.0})
    words[sunspec.INVERTER_3P.offset("W_SF")] = 0x8000
    assert sunspec.decode_model(sunspec.INVERTER_3P, words)["W"] is None


def test_reads_are_merged_while_they_fit_one_request() -> None:
    models = [
        _Model(40070, sunspec.INVERTER_3P),  # 52 registers
        _Model(40122, sunspec.NAMEPLATE),
        _Model(40150, sunspec.CONTROLS),  # ends at 40176: 106 from 40070
        _Model(40300, sunspec.BATTERY),
    ]
    assert plan_reads([models[0], models[2], models[3]]) == [(40070, 106), (40300, 64)]
    assert all(count <= 123 for _, count in plan_reads(models))
