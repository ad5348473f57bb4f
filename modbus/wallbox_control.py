"""Wallbox control registers: how a third party steers the wallbox over Modbus (MB-2).

Two holding registers at 0xB000 (45056). Written only over TLS by an accepted client
certificate; every write is validated as a whole before anything changes, and a valid one is
handed to the wallbox controller (see ``modbus.services.store_wallbox_command``).

| address | name | values |
|---|---|---|
| 45056 | wallbox_mode | 0 lock, 1 grid, 2 pv, 3 hybrid; 65535 = released (no Modbus command) |
| 45057 | wallbox_current_limit | 0.1 A: 0 = no limit, 60-320 (6.0-32.0 A) |

Reads (plain TCP too) return the command in force. A command holds for
``energy.config.WALLBOX_COMMAND_TIMEOUT_S`` (60 s) after its last write; then it is released.
Pure: no sockets, no Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from energy.config import LOCK, POWER, SOLAR_PLUS, SOLAR_PURE

BASE = 0xB000
COUNT = 2
BLOCK = (BASE, COUNT)

MODES = ("lock", "grid", "pv", "hybrid")  # register value = index
# What each register mode means to the wallbox control: grid = Power mode (maximum current),
# pv = Solar Pure (surplus only), hybrid = Solar Plus at the minimum current from the grid with
# the surplus on top (start power "min", 0 % minimum solar share).
PRODUCT_MODES = {"lock": LOCK, "grid": POWER, "pv": SOLAR_PURE, "hybrid": SOLAR_PLUS}
RELEASED = 0xFFFF
MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 32.0
CURRENT_SCALE = 0.1


@dataclass(frozen=True, slots=True)
class ControlSpec:
    address: int
    name: str
    scale: float
    unit: str


SPECS = (
    ControlSpec(BASE, "wallbox_mode", 1.0, ""),
    ControlSpec(BASE + 1, "wallbox_current_limit", CURRENT_SCALE, "A"),
)


class InvalidValue(ValueError):
    """A written value is out of range (Modbus exception 3)."""


@dataclass(frozen=True, slots=True)
class WallboxControls:
    """The command in force: ``mode`` None = released; ``current_limit_a`` None = no limit."""

    mode: str | None = None
    current_limit_a: float | None = None

    def words(self) -> list[int]:
        mode = RELEASED if self.mode is None else MODES.index(self.mode)
        limit = 0 if self.current_limit_a is None else round(self.current_limit_a / CURRENT_SCALE)
        return [mode, limit]

    @classmethod
    def from_words(cls, words: Sequence[int]) -> WallboxControls:
        mode_raw, limit_raw = words
        if mode_raw != RELEASED and not 0 <= mode_raw < len(MODES):
            raise InvalidValue(f"wallbox mode {mode_raw} is not one of 0-{len(MODES) - 1} or {RELEASED}")
        if limit_raw != 0 and not round(MIN_CURRENT_A / CURRENT_SCALE) <= limit_raw <= round(
            MAX_CURRENT_A / CURRENT_SCALE
        ):
            raise InvalidValue(f"current limit {limit_raw * CURRENT_SCALE:.1f} A is outside 6.0-32.0 A (or 0)")
        return cls(
            mode=None if mode_raw == RELEASED else MODES[mode_raw],
            current_limit_a=None if limit_raw == 0 else round(limit_raw * CURRENT_SCALE, 1),
        )


def in_block(address: int, count: int) -> bool:
    return address >= BASE and address + count <= BASE + COUNT


def apply_write(current: WallboxControls, address: int, values: Sequence[int]) -> WallboxControls:
    """The controls after writing ``values`` from ``address`` on; ``InvalidValue`` if any is out of range.

    The caller has checked that the addresses lie in the block.
    """
    words = current.words()
    for i, value in enumerate(values):
        words[address - BASE + i] = value
    return WallboxControls.from_words(words)
