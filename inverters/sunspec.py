"""The SunSpec register chain of an inverter, as data: layouts, encoding and decoding.

Spoken by the inverters whose own Modbus maps are not public (PIKO 4.2-20, PIKO CI, PIKO MP
plus): "SunS" at 40000, then model 1 (common), 103 (three-phase inverter, integer + scale
factor), 120 (nameplate), 123 (immediate controls), 160 (multiple MPPT) and, for a PIKO MP
plus with a battery, 802 (battery) and 124 (storage controls); the end model 0xFFFF closes it.
Point lists and lengths follow the official model definitions (sunspec/models JSON); all values
are big-endian. A point the device does not provide reads as SunSpec's "not implemented" value
(0x8000 for int16 and scale factors, 0xFFFF for uint16/enum16/bitfield16, 0xFFFFFFFF for
uint32/bitfield32, 0 for accumulators).

Sign conventions: SunSpec counts power from the device's point of view. Model 802 ``W`` is
positive while the battery discharges; model 124 sets a charge/discharge window in percent of
``WChaMax``: the battery may run between -``OutWRte`` (discharge) and +``InWRte`` (charge), so
``InWRte = p, OutWRte = -p`` pins it at charging ``p`` %.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from energy.sunspec import (
    END_MODEL_ID as END_MODEL_ID,
)
from energy.sunspec import (
    SUNS_MARKER,
    SUNSPEC_BASE,
    ModelLayout,
    Point,
    Value,
    chain_image,
    fit_scale_factors,
    model_words,
    scale_value,
    split32,
    string_words,
    sunssf_words,
)
from energy.sunspec import (
    chain_length as chain_length,
)

MAX_READ_COUNT = 123

NOT_IMPLEMENTED = {
    "int16": 0x8000,
    "sunssf": 0x8000,
    "uint16": 0xFFFF,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "count": 0,
    "pad": 0x8000,
}
NOT_IMPLEMENTED_32 = {"acc32": 0, "uint32": 0xFFFF_FFFF, "bitfield32": 0xFFFF_FFFF}

# Model 103 St.
ST_OFF = 1
ST_SLEEPING = 2
ST_MPPT = 4
ST_THROTTLED = 5
# Model 123 WMaxLim_Ena / model 124 StorCtl_Mod.
ENABLED = 1
DISABLED = 0
STORAGE_CHARGE_LIMIT = 1  # bit 0: InWRte applies
STORAGE_DISCHARGE_LIMIT = 2  # bit 1: OutWRte applies


def _p(name: str, dtype: str, size: int = 1, sf: str | None = None, rw: bool = False) -> Point:
    return Point(name, dtype, size, sf, rw)


def _scaled(dtype: str, sf: str, *names: str) -> tuple[Point, ...]:
    return tuple(_p(name, dtype, 1, sf) for name in names)


COMMON = ModelLayout(
    1,
    (
        _p("Mn", "string", 16),
        _p("Md", "string", 16),
        _p("Opt", "string", 8),
        _p("Vr", "string", 8),
        _p("SN", "string", 16),
        _p("DA", "uint16", rw=True),
        _p("Pad", "pad"),
    ),
)

INVERTER_3P = ModelLayout(
    103,
    (
        *_scaled("uint16", "A_SF", "A", "AphA", "AphB", "AphC"),
        _p("A_SF", "sunssf"),
        *_scaled("uint16", "V_SF", "PPVphAB", "PPVphBC", "PPVphCA", "PhVphA", "PhVphB", "PhVphC"),
        _p("V_SF", "sunssf"),
        _p("W", "int16", sf="W_SF"),
        _p("W_SF", "sunssf"),
        _p("Hz", "uint16", sf="Hz_SF"),
        _p("Hz_SF", "sunssf"),
        _p("VA", "int16", sf="VA_SF"),
        _p("VA_SF", "sunssf"),
        _p("VAr", "int16", sf="VAr_SF"),
        _p("VAr_SF", "sunssf"),
        _p("PF", "int16", sf="PF_SF"),
        _p("PF_SF", "sunssf"),
        _p("WH", "acc32", 2, "WH_SF"),
        _p("WH_SF", "sunssf"),
        _p("DCA", "uint16", sf="DCA_SF"),
        _p("DCA_SF", "sunssf"),
        _p("DCV", "uint16", sf="DCV_SF"),
        _p("DCV_SF", "sunssf"),
        _p("DCW", "int16", sf="DCW_SF"),
        _p("DCW_SF", "sunssf"),
        *_scaled("int16", "Tmp_SF", "TmpCab", "TmpSnk", "TmpTrns", "TmpOt"),
        _p("Tmp_SF", "sunssf"),
        _p("St", "enum16"),
        _p("StVnd", "enum16"),
        _p("Evt1", "bitfield32", 2),
        _p("Evt2", "bitfield32", 2),
        _p("EvtVnd1", "bitfield32", 2),
        _p("EvtVnd2", "bitfield32", 2),
        _p("EvtVnd3", "bitfield32", 2),
        _p("EvtVnd4", "bitfield32", 2),
    ),
)

NAMEPLATE = ModelLayout(
    120,
    (
        _p("DERTyp", "enum16"),
        _p("WRtg", "uint16", sf="WRtg_SF"),
        _p("WRtg_SF", "sunssf"),
        _p("VARtg", "uint16", sf="VARtg_SF"),
        _p("VARtg_SF", "sunssf"),
        *_scaled("int16", "VArRtg_SF", "VArRtgQ1", "VArRtgQ2", "VArRtgQ3", "VArRtgQ4"),
        _p("VArRtg_SF", "sunssf"),
        _p("ARtg", "uint16", sf="ARtg_SF"),
        _p("ARtg_SF", "sunssf"),
        *_scaled("int16", "PFRtg_SF", "PFRtgQ1", "PFRtgQ2", "PFRtgQ3", "PFRtgQ4"),
        _p("PFRtg_SF", "sunssf"),
        _p("WHRtg", "uint16", sf="WHRtg_SF"),
        _p("WHRtg_SF", "sunssf"),
        _p("AhrRtg", "uint16", sf="AhrRtg_SF"),
        _p("AhrRtg_SF", "sunssf"),
        _p("MaxChaRte", "uint16", sf="MaxChaRte_SF"),
        _p("MaxChaRte_SF", "sunssf"),
        _p("MaxDisChaRte", "uint16", sf="MaxDisChaRte_SF"),
        _p("MaxDisChaRte_SF", "sunssf"),
        _p("Pad", "pad"),
    ),
)

CONTROLS = ModelLayout(
    123,
    (
        _p("Conn_WinTms", "uint16", rw=True),
        _p("Conn_RvrtTms", "uint16", rw=True),
        _p("Conn", "enum16", rw=True),
        _p("WMaxLimPct", "uint16", sf="WMaxLimPct_SF", rw=True),
        _p("WMaxLimPct_WinTms", "uint16", rw=True),
        _p("WMaxLimPct_RvrtTms", "uint16", rw=True),
        _p("WMaxLimPct_RmpTms", "uint16", rw=True),
        _p("WMaxLim_Ena", "enum16", rw=True),
        _p("OutPFSet", "int16", sf="OutPFSet_SF", rw=True),
        _p("OutPFSet_WinTms", "uint16", rw=True),
        _p("OutPFSet_RvrtTms", "uint16", rw=True),
        _p("OutPFSet_RmpTms", "uint16", rw=True),
        _p("OutPFSet_Ena", "enum16", rw=True),
        *(_p(name, "int16", sf="VArPct_SF", rw=True) for name in ("VArWMaxPct", "VArMaxPct", "VArAvalPct")),
        _p("VArPct_WinTms", "uint16", rw=True),
        _p("VArPct_RvrtTms", "uint16", rw=True),
        _p("VArPct_RmpTms", "uint16", rw=True),
        _p("VArPct_Mod", "enum16", rw=True),
        _p("VArPct_Ena", "enum16", rw=True),
        _p("WMaxLimPct_SF", "sunssf"),
        _p("OutPFSet_SF", "sunssf"),
        _p("VArPct_SF", "sunssf"),
    ),
)

STORAGE = ModelLayout(
    124,
    (
        _p("WChaMax", "uint16", sf="WChaMax_SF", rw=True),
        _p("WChaGra", "uint16", sf="WChaDisChaGra_SF", rw=True),
        _p("WDisChaGra", "uint16", sf="WChaDisChaGra_SF", rw=True),
        _p("StorCtl_Mod", "bitfield16", rw=True),
        _p("VAChaMax", "uint16", sf="VAChaMax_SF", rw=True),
        _p("MinRsvPct", "uint16", sf="MinRsvPct_SF", rw=True),
        _p("ChaState", "uint16", sf="ChaState_SF"),
        _p("StorAval", "uint16", sf="StorAval_SF"),
        _p("InBatV", "uint16", sf="InBatV_SF"),
        _p("ChaSt", "enum16"),
        _p("OutWRte", "int16", sf="InOutWRte_SF", rw=True),
        _p("InWRte", "int16", sf="InOutWRte_SF", rw=True),
        _p("InOutWRte_WinTms", "uint16", rw=True),
        _p("InOutWRte_RvrtTms", "uint16", rw=True),
        _p("InOutWRte_RmpTms", "uint16", rw=True),
        _p("ChaGriSet", "enum16", rw=True),
        _p("WChaMax_SF", "sunssf"),
        _p("WChaDisChaGra_SF", "sunssf"),
        _p("VAChaMax_SF", "sunssf"),
        _p("MinRsvPct_SF", "sunssf"),
        _p("ChaState_SF", "sunssf"),
        _p("StorAval_SF", "sunssf"),
        _p("InBatV_SF", "sunssf"),
        _p("InOutWRte_SF", "sunssf"),
    ),
)

BATTERY = ModelLayout(
    802,
    (
        _p("AHRtg", "uint16", sf="AHRtg_SF"),
        _p("WHRtg", "uint16", sf="WHRtg_SF"),
        _p("WChaRteMax", "uint16", sf="WChaDisChaMax_SF"),
        _p("WDisChaRteMax", "uint16", sf="WChaDisChaMax_SF"),
        _p("DisChaRte", "uint16", sf="DisChaRte_SF"),
        _p("SoCMax", "uint16", sf="SoC_SF"),
        _p("SoCMin", "uint16", sf="SoC_SF"),
        _p("SocRsvMax", "uint16", sf="SoC_SF"),
        _p("SoCRsvMin", "uint16", sf="SoC_SF"),
        _p("SoC", "uint16", sf="SoC_SF"),
        _p("DoD", "uint16", sf="DoD_SF"),
        _p("SoH", "uint16", sf="SoH_SF"),
        _p("NCyc", "uint32", 2),
        _p("ChaSt", "enum16"),
        _p("LocRemCtl", "enum16"),
        _p("Hb", "uint16"),
        _p("CtrlHb", "uint16"),
        _p("AlmRst", "uint16"),
        _p("Typ", "enum16"),
        _p("State", "enum16"),
        _p("StateVnd", "enum16"),
        _p("WarrDt", "uint32", 2),
        _p("Evt1", "bitfield32", 2),
        _p("Evt2", "bitfield32", 2),
        _p("EvtVnd1", "bitfield32", 2),
        _p("EvtVnd2", "bitfield32", 2),
        _p("V", "uint16", sf="V_SF"),
        _p("VMax", "uint16", sf="V_SF"),
        _p("VMin", "uint16", sf="V_SF"),
        _p("CellVMax", "uint16", sf="CellV_SF"),
        _p("CellVMaxStr", "uint16"),
        _p("CellVMaxMod", "uint16"),
        _p("CellVMin", "uint16", sf="CellV_SF"),
        _p("CellVMinStr", "uint16"),
        _p("CellVMinMod", "uint16"),
        _p("CellVAvg", "uint16", sf="CellV_SF"),
        _p("A", "int16", sf="A_SF"),
        _p("AChaMax", "uint16", sf="AMax_SF"),
        _p("ADisChaMax", "uint16", sf="AMax_SF"),
        _p("W", "int16", sf="W_SF"),
        _p("ReqInvState", "enum16"),
        _p("ReqW", "int16", sf="W_SF"),
        _p("SetOp", "enum16", rw=True),
        _p("SetInvState", "enum16", rw=True),
        *(
            _p(sf, "sunssf")
            for sf in (
                "AHRtg_SF",
                "WHRtg_SF",
                "WChaDisChaMax_SF",
                "DisChaRte_SF",
                "SoC_SF",
                "DoD_SF",
                "SoH_SF",
                "V_SF",
                "CellV_SF",
                "A_SF",
                "AMax_SF",
                "W_SF",
            )
        ),
    ),
)

_MPPT_HEADER = (
    _p("DCA_SF", "sunssf"),
    _p("DCV_SF", "sunssf"),
    _p("DCW_SF", "sunssf"),
    _p("DCWH_SF", "sunssf"),
    _p("Evt", "bitfield32", 2),
    _p("N", "count"),
    _p("TmsPer", "uint16"),
)
MPPT_MODULE_LENGTH = 20


def mppt_layout(modules: int) -> ModelLayout:
    """Model 160 with ``modules`` repeating module groups, points named ``<n>.DCW`` (n from 1)."""
    points: list[Point] = list(_MPPT_HEADER)
    for n in range(1, modules + 1):
        points += [
            _p(f"{n}.ID", "uint16"),
            _p(f"{n}.IDStr", "string", 8),
            _p(f"{n}.DCA", "uint16", sf="DCA_SF"),
            _p(f"{n}.DCV", "uint16", sf="DCV_SF"),
            _p(f"{n}.DCW", "uint16", sf="DCW_SF"),
            _p(f"{n}.DCWH", "acc32", 2, "DCWH_SF"),
            _p(f"{n}.Tms", "uint32", 2),
            _p(f"{n}.Tmp", "int16"),
            _p(f"{n}.DCSt", "enum16"),
            _p(f"{n}.DCEvt", "bitfield32", 2),
        ]
    return ModelLayout(160, tuple(points))


FIXED_LAYOUTS: dict[int, ModelLayout] = {
    m.model_id: m for m in (COMMON, INVERTER_3P, NAMEPLATE, CONTROLS, STORAGE, BATTERY)
}


def layout_for(model_id: int, length: int) -> ModelLayout | None:
    """The layout of a model the product understands, sized to the length the device announces."""
    if model_id == 160:
        header = sum(p.size for p in _MPPT_HEADER)
        if length < header or (length - header) % MPPT_MODULE_LENGTH:
            return None
        return mppt_layout((length - header) // MPPT_MODULE_LENGTH)
    layout = FIXED_LAYOUTS.get(model_id)
    return layout if layout is not None and length >= layout.length else None


# Finest scale factor per group; a group is coarsened only when a value would not fit.
PREFERRED_SCALE_FACTORS: Mapping[str, int] = {
    "A_SF": -2,
    "V_SF": -1,
    "W_SF": 0,
    "Hz_SF": -2,
    "VA_SF": 0,
    "VAr_SF": 0,
    "PF_SF": -2,
    "WH_SF": 0,
    "DCA_SF": -2,
    "DCV_SF": -1,
    "DCW_SF": 0,
    "Tmp_SF": -1,
    "WRtg_SF": 0,
    "WMaxLimPct_SF": -2,
    "InOutWRte_SF": -2,
    "SoC_SF": -1,
    "WChaMax_SF": 0,
}
_RANGES = {"int16": (-0x7FFF, 0x7FFF), "uint16": (0, 0xFFFE), "acc32": (0, 0xFFFF_FFFF), "uint32": (0, 0xFFFF_FFFE)}


def choose_scale_factors(layout: ModelLayout, values: Mapping[str, Value]) -> dict[str, int]:
    """Per scale-factor point: the preferred factor, coarsened until every member fits its type."""
    return fit_scale_factors(
        layout, values, PREFERRED_SCALE_FACTORS, _RANGES, other_range=(-0x7FFF, 0xFFFE), max_factor=10
    )


def encode_point(point: Point, value: Value, factors: Mapping[str, int]) -> list[int]:
    """The words of one point; ``None`` gives the not-implemented value."""
    if point.dtype == "string":
        return string_words("" if value is None else str(value), point.size)
    if point.dtype == "sunssf":
        return sunssf_words(point, factors)
    if value is None:
        if point.size == 2:
            return split32(NOT_IMPLEMENTED_32[point.dtype])
        return [NOT_IMPLEMENTED[point.dtype]]
    if isinstance(value, str):
        raise ValueError(f"{point.name}: expected a number, got {value!r}")
    low, high = _RANGES.get(point.dtype, (0, 0xFFFF if point.size == 1 else 0xFFFF_FFFF))
    scaled = max(low, min(high, scale_value(point, value, factors)))
    if point.size == 2:
        return split32(scaled & 0xFFFF_FFFF)
    return [scaled & 0xFFFF]


def encode_model(layout: ModelLayout, values: Mapping[str, Value]) -> list[int]:
    """ID, L and body of one model. A value for a scale-factor point fixes that factor."""
    return model_words(layout, values, choose_scale_factors(layout, values), encode_point)


def model_addresses(layouts: Sequence[ModelLayout], base: int = SUNSPEC_BASE) -> dict[int, int]:
    """{model id: address of its ID register} of a chain."""
    addresses: dict[int, int] = {}
    address = base + len(SUNS_MARKER)
    for layout in layouts:
        addresses[layout.model_id] = address
        address += layout.size
    return addresses


def encode_chain(models: Sequence[tuple[ModelLayout, Mapping[str, Value]]], base: int = SUNSPEC_BASE) -> dict[int, int]:
    """{address: word} of the whole chain: marker, models, end model."""
    return chain_image((encode_model(layout, values) for layout, values in models), base)


def _signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def decode_point(point: Point, words: Sequence[int], factors: Mapping[str, int | None]) -> Value:
    """One point in engineering units; ``None`` if not implemented (or its scale factor is not)."""
    if point.dtype == "string":
        text = struct.pack(f">{point.size}H", *words)
        return text.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    if point.dtype == "sunssf":
        return None if words[0] == 0x8000 else float(_signed(words[0]))
    if point.size == 2:
        raw = (words[0] << 16) | words[1]
        if point.dtype != "acc32" and raw == NOT_IMPLEMENTED_32[point.dtype]:
            return None
        number = float(raw)
    elif point.dtype == "int16":
        if words[0] == 0x8000:
            return None
        number = float(_signed(words[0]))
    else:
        if words[0] == NOT_IMPLEMENTED.get(point.dtype, -1) and point.dtype not in ("count", "pad"):
            return None
        number = float(words[0])
    if point.scale_factor:
        factor = factors.get(point.scale_factor)
        if factor is None:
            return None
        number *= 10.0**factor
    return number


def decode_model(layout: ModelLayout, words: Sequence[int]) -> dict[str, Value]:
    """Every point of one model from its words (starting at the ID register)."""
    if len(words) < layout.size:
        raise ValueError(f"model {layout.model_id} needs {layout.size} registers, got {len(words)}")
    spans: dict[str, tuple[Point, Sequence[int]]] = {}
    offset = 2
    for point in layout.points:
        spans[point.name] = (point, words[offset : offset + point.size])
        offset += point.size
    factors: dict[str, int | None] = {}
    for name, (point, point_words) in spans.items():
        if point.dtype == "sunssf":
            value = decode_point(point, point_words, {})
            factors[name] = None if value is None else int(value)
    return {name: decode_point(point, point_words, factors) for name, (point, point_words) in spans.items()}


def scale_factor_of(layout: ModelLayout, words: Sequence[int], point_name: str) -> int | None:
    """The scale factor currently in force for a point, from the model's words."""
    sf_name = layout.point(point_name).scale_factor
    if sf_name is None:
        return 0
    word = words[layout.offset(sf_name)]
    return None if word == 0x8000 else _signed(word)
