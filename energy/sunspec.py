"""What every SunSpec register chain shares (pure, no Django, no pymodbus): the "SunS" marker,
a model's ID and L header and its points, scale factors chosen to fit, strings and 32-bit values
packed into words, the end model. The meter's chain (``meter/sunspec.py``: models 1 and 203) and
the inverters' (``inverters/sunspec.py``: 1, 103, 120, 123, 124, 160, 802) keep their own
layouts and their own words for a value they do not have; both are encoded here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SUNSPEC_BASE = 40000
SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF

Value = float | str | None  # None: the device does not provide this point


@dataclass(frozen=True, slots=True)
class Point:
    name: str
    dtype: str  # uint16, int16, enum16, bitfield16, sunssf, count, pad, acc32, uint32, bitfield32, string
    size: int = 1
    scale_factor: str | None = None  # name of the sunssf point that scales this one
    writable: bool = False


@dataclass(frozen=True, slots=True)
class ModelLayout:
    model_id: int
    points: tuple[Point, ...]  # the body, after the ID and L registers
    # Registers of the body (the model's L), counted once: every read and decode asks for it.
    length: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", sum(point.size for point in self.points))

    @property
    def size(self) -> int:
        """Registers including the ID and L header."""
        return self.length + 2

    def offset(self, name: str) -> int:
        """Offset of a point from the model's ID register, as in the SunSpec model tables."""
        offset = 2
        for point in self.points:
            if point.name == name:
                return offset
            offset += point.size
        raise KeyError(f"model {self.model_id} has no point {name!r}")

    def point(self, name: str) -> Point:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"model {self.model_id} has no point {name!r}")


def fit_scale_factors(
    layout: ModelLayout,
    values: Mapping[str, Value],
    preferred: Mapping[str, int],
    ranges: Mapping[str, tuple[int, int]],
    *,
    other_range: tuple[int, int] | None = None,
    max_factor: int | None = None,
) -> dict[str, int]:
    """Per scale-factor point: the preferred factor, coarsened until every scaled member fits the
    range of its type (``ranges``; a type not named there is checked against ``other_range``, or not
    at all without one), up to ``max_factor``. A value given for a scale-factor point fixes it."""
    members: dict[str, list[tuple[tuple[int, int], float]]] = {}
    for point in layout.points:
        value = values.get(point.name)
        bounds = ranges.get(point.dtype, other_range)
        if point.scale_factor and bounds is not None and isinstance(value, int | float):
            members.setdefault(point.scale_factor, []).append((bounds, float(value)))
    factors: dict[str, int] = {}
    for point in layout.points:
        if point.dtype != "sunssf":
            continue
        if isinstance(fixed := values.get(point.name), int | float):
            factors[point.name] = int(fixed)
            continue
        factor = preferred.get(point.name, 0)
        while (max_factor is None or factor < max_factor) and any(
            not low <= round(value / 10.0**factor) <= high for (low, high), value in members.get(point.name, [])
        ):
            factor += 1
        factors[point.name] = factor
    return factors


def scale_value(point: Point, value: float, factors: Mapping[str, int]) -> int:
    """A number in the point's units, divided by its scale factor and rounded."""
    return round(value / 10.0 ** factors[point.scale_factor]) if point.scale_factor else round(value)


def sunssf_words(point: Point, factors: Mapping[str, int]) -> list[int]:
    return [factors.get(point.name, 0) & 0xFFFF]


def string_words(text: str, size: int) -> list[int]:
    """ASCII, cut or padded with NUL to ``size`` registers."""
    raw = text.encode("ascii", "replace")[: size * 2].ljust(size * 2, b"\0")
    return list(struct.unpack(f">{size}H", raw))


def split32(value: int) -> list[int]:
    """A 32-bit value as two big-endian registers."""
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


PointEncoder = Callable[[Point, Value, Mapping[str, int]], list[int]]


def model_words(
    layout: ModelLayout, values: Mapping[str, Value], factors: Mapping[str, int], encode_point: PointEncoder
) -> list[int]:
    """ID, L and body of one model, each point in the words ``encode_point`` gives it."""
    words = [layout.model_id, layout.length]
    for point in layout.points:
        words += encode_point(point, values.get(point.name), factors)
    return words


def chain_image(models: Iterable[Sequence[int]], base: int = SUNSPEC_BASE) -> dict[int, int]:
    """{address: word} of a whole chain: the marker, the models' words, the end model."""
    words: list[int] = [*SUNS_MARKER]
    for model in models:
        words += model
    words += [END_MODEL_ID, 0]
    return {base + index: word for index, word in enumerate(words)}


def chain_length(layouts: Sequence[ModelLayout]) -> int:
    """Registers from the marker to the end model inclusive."""
    return len(SUNS_MARKER) + sum(layout.size for layout in layouts) + 2
