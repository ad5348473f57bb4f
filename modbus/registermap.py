"""The registers the product serves as a Modbus slave, built from one plant snapshot (MB-1).

One :class:`RegisterImage` per snapshot: the KSEM layout (0-147, 512-791), the PnP block
(8192-8249), the SunSpec chain at 40000 (``SunS``, model 1, model 203, end model) and the KSEM G2
energy-flow block at 0xA000 (40960-41021). The encodings are the meter app's own
(:mod:`meter.registers`, :mod:`meter.sunspec`), so what the product reads from a KSEM and what
it serves are the same tables.

Energy registers carry the plant's totals since commissioning (``state.totals`` and
``state.phase_totals``), not the measured meter's raw counters: they never fall when the meter
is replaced or reset.

Nothing here touches Django, sockets or the clock.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from energy.state import DeviceInfo, FlowSummary, MeterReading, PlantState
from meter import registers, sunspec
from modbus import wallbox_control

# The energy-flow block as served: the 54 registers the meter driver reads plus 8 reserved (zero).
FLOW_SERVED = (registers.FLOW_BASE, 62)
KSEM_INSTANT = (0, 148)  # totals 0-27 and per phase 40-147; gaps read as 0
KSEM_ENERGY = (512, 280)  # totals 512-551 and per phase 592-791; gaps read as 0
SNAPSHOT_BLOCKS: tuple[tuple[int, int], ...] = (
    KSEM_INSTANT,
    KSEM_ENERGY,
    registers.PNP_BLOCK,
    (sunspec.SUNSPEC_BASE, sunspec.SUNSPEC_LENGTH),
    FLOW_SERVED,
)
# Every readable block: the snapshot's and the wallbox control block (served from its own store).
SERVED_BLOCKS: tuple[tuple[int, int], ...] = (*SNAPSHOT_BLOCKS, wallbox_control.BLOCK)

# Register groups a Modbus TCP master pushes (MB-4), as the KSEM names them.
MASTER_GROUPS: Mapping[str, tuple[tuple[int, int], ...]] = {
    "total": ((0, 28),),
    "phases": ((40, 106),),
    "energy_total": ((512, 40),),
    "energy_phases": ((592, 100), (692, 100)),
}

VENDOR = "KOSTAL"
PRODUCT = "KSEM"
PRODUCT_VERSION = 2
FIRMWARE_VERSION = 206


def product_info(plant_id: int, measuring_interval_ms: int) -> DeviceInfo:
    """What the PnP block and SunSpec model 1 say about the device.

    The same identity as a KSEM G2 (and the plant simulator): an inverter polling its grid
    meter over RS485 recognises the device by it. The serial number names the plant.
    """
    return DeviceInfo(
        manufacturer_id=0,
        product_id=0,
        product_version=PRODUCT_VERSION,
        firmware_version=FIRMWARE_VERSION,
        vendor=VENDOR,
        product=PRODUCT,
        serial=f"OSS{plant_id:07d}",
        measuring_interval_ms=measuring_interval_ms,
    )


def served_reading(state: PlantState) -> MeterReading | None:
    """The snapshot's meter reading with the totals since commissioning as its energy counters."""
    if state.meter is None:
        return None
    return dataclasses.replace(state.meter, energy=state.totals, phase_energy=state.phase_totals)


def flow_summary(state: PlantState) -> FlowSummary:
    flow = state.flow
    return FlowSummary(
        pv_power_w=flow.pv_power_w,
        battery_power_w=flow.battery_power_w,
        battery_soc_pct=flow.battery_soc_pct,
        house_power_w=flow.house_power_w,
        wallbox_power_w=flow.wallbox_power_w,
    )


def snapshot_words(reading: MeterReading, state: PlantState, info: DeviceInfo) -> dict[int, int]:
    """{address: word} of every snapshot block (unmapped addresses inside a block read 0)."""
    words = {start + i: 0 for start, count in SNAPSHOT_BLOCKS for i in range(count)}
    words.update(registers.encode_reading(reading))
    words.update(registers.encode_device_info(info))
    grid = state.flow.grid_power_w if state.flow.grid_power_w is not None else reading.active_power_w
    words.update(registers.encode_flow(flow_summary(state), grid))
    words.update(sunspec.encode_sunspec(reading, info, sunspec.SUNSPEC_BASE))
    return words


@dataclass(frozen=True, slots=True)
class Block:
    start: int
    count: int
    data: bytes  # big-endian words

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True, slots=True)
class RegisterImage:
    """The served registers of one snapshot, as bytes ready to go on the wire."""

    sequence: int
    timestamp_s: float
    blocks: tuple[Block, ...]

    def read(self, address: int, count: int) -> bytes | None:
        """``count`` registers from ``address`` as bytes, ``None`` unless all lie in one block."""
        for block in self.blocks:
            if block.start <= address and address + count <= block.end:
                offset = 2 * (address - block.start)
                return block.data[offset : offset + 2 * count]
        return None

    def words(self, address: int, count: int) -> list[int] | None:
        data = self.read(address, count)
        return None if data is None else list(struct.unpack(f">{count}H", data))


def to_blocks(words: Mapping[int, int], layout: Iterable[tuple[int, int]]) -> tuple[Block, ...]:
    return tuple(
        Block(start, count, struct.pack(f">{count}H", *(words.get(start + i, 0) for i in range(count))))
        for start, count in layout
    )


def build_image(state: PlantState, info: DeviceInfo) -> RegisterImage | None:
    """The image of a snapshot, ``None`` when it has no meter reading (nothing to serve)."""
    reading = served_reading(state)
    if reading is None:
        return None
    words = snapshot_words(reading, state, info)
    return RegisterImage(state.sequence, state.timestamp.timestamp(), to_blocks(words, SNAPSHOT_BLOCKS))


def is_served(address: int, count: int) -> bool:
    return any(start <= address and address + count <= start + n for start, n in SERVED_BLOCKS)


# --- the mapping overview (MB-1): every named register with its value right now -------------
@dataclass(frozen=True, slots=True)
class MapRow:
    address: int
    count: int
    name: str
    dtype: str
    scale: str
    unit: str
    value: str  # formatted; "" while nothing is served, "n/a" for unsupported points
    group: str


def _fmt(value: float | str, scale: float = 1.0) -> str:
    """The value with as many decimals as the register resolves (0.1 -> one)."""
    if isinstance(value, str):
        return value
    decimals = max(0, round(-math.log10(scale))) if scale > 0 else 0
    return f"{value:.{decimals}f}"


def _ksem_rows(words: Mapping[int, int] | None) -> list[MapRow]:
    groups = [
        ("KSEM", registers.KSEM_SPECS),
        ("PnP", registers.PNP_SPECS),
        ("0xA000", registers.FLOW_SPECS),
    ]
    rows = []
    for group, specs in groups:
        values = registers.unpack(specs, words) if words is not None else {}
        for spec in specs:
            value = values.get(spec.name)
            rows.append(
                MapRow(
                    spec.address,
                    spec.count,
                    spec.name,
                    spec.dtype,
                    f"{spec.scale:g}",
                    spec.unit,
                    "" if value is None else _fmt(value, spec.scale),
                    group,
                )
            )
    return rows


def _sunspec_rows(words: Mapping[int, int] | None) -> list[MapRow]:
    rows = [MapRow(sunspec.SUNSPEC_BASE, 2, "SunS", "string", "", "", "SunS", "SunSpec")]
    address = sunspec.SUNSPEC_BASE + 2
    for layout in (sunspec.COMMON_MODEL, sunspec.WYE_METER_MODEL):
        rows.append(
            MapRow(address, 1, f"ID (model {layout.model_id})", "uint16", "", "", str(layout.model_id), "SunSpec")
        )
        rows.append(MapRow(address + 1, 1, "L", "uint16", "", "", str(layout.length), "SunSpec"))
        point_address = address + 2
        factors: dict[str, int] = {}
        if words is not None:
            offset = point_address
            for point in layout.points:
                if point.dtype == "sunssf":
                    raw = words[offset]
                    factors[point.name] = raw - 0x10000 if raw >= 0x8000 else raw
                offset += point.size
        for point in layout.points:
            if point.dtype != "pad":
                rows.append(
                    MapRow(
                        point_address,
                        point.size,
                        point.name,
                        point.dtype,
                        point.scale_factor or "",
                        "",
                        "" if words is None else _sunspec_value(point, words, point_address, factors),
                        f"SunSpec {layout.model_id}",
                    )
                )
            point_address += point.size
        address = point_address
    rows.append(MapRow(address, 2, "end model", "uint16", "", "", "0xFFFF", "SunSpec"))
    return rows


def _sunspec_value(point: sunspec.Point, words: Mapping[int, int], address: int, factors: Mapping[str, int]) -> str:
    raw_words = [words[address + i] for i in range(point.size)]
    if point.dtype == "string":
        return struct.pack(f">{point.size}H", *raw_words).split(b"\0", 1)[0].decode("ascii", "replace")
    if point.dtype == "sunssf":
        return str(factors.get(point.name, 0))
    raw = 0
    for word in raw_words:
        raw = (raw << 16) | word
    if point.dtype == "int16":
        if raw == sunspec.NOT_IMPLEMENTED_INT16:
            return "n/a"
        raw = raw - 0x10000 if raw >= 0x8000 else raw
    if point.dtype == "acc32" and raw == sunspec.NOT_IMPLEMENTED_ACC32:
        return "n/a"
    if point.scale_factor:
        factor = factors.get(point.scale_factor, 0)
        return _fmt(raw * 10.0**factor, 10.0**factor)
    return str(raw)


def _wallbox_rows(controls: wallbox_control.WallboxControls) -> list[MapRow]:
    values = controls.words()
    return [
        MapRow(
            spec.address,
            1,
            spec.name,
            "u16",
            f"{spec.scale:g}",
            spec.unit,
            str(values[spec.address - wallbox_control.BASE]),
            "wallbox (TLS write)",
        )
        for spec in wallbox_control.SPECS
    ]


def overview(state: PlantState | None, info: DeviceInfo, controls: wallbox_control.WallboxControls) -> list[MapRow]:
    """Every named served register with its value from ``state`` (values empty without a reading)."""
    reading = served_reading(state) if state is not None else None
    words = snapshot_words(reading, state, info) if reading is not None and state is not None else None
    rows = [*_ksem_rows(words), *_sunspec_rows(words), *_wallbox_rows(controls)]
    return sorted(rows, key=lambda row: row.address)
