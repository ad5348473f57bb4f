"""What the wallbox controllers remember from one cycle to the next: frozen dataclasses, one per
controller, with datetimes, so that a misspelt field is a type error. They live in the control
loop of the plant's runtime only (:class:`~energy.control.ControlLoop`); nothing persists or
encodes them, what people see of them is the controllers' timers and reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from energy.config import LOCK, POWER, SOLAR_PLUS, SOLAR_PURE
from wallbox.clouds import Spell


class ModeInForce(StrEnum):
    """The mode that holds for a box in a cycle (:func:`~wallbox.common.mode_in_force`: Time
    Mode resolved to the mode of its hour)."""

    LOCK = LOCK
    POWER = POWER
    SOLAR_PURE = SOLAR_PURE
    SOLAR_PLUS = SOLAR_PLUS


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxMemory:
    """One box under :class:`~wallbox.modes.WallboxModes` (WB-4, WB-5, WB-6)."""

    mode: ModeInForce | None = None  # the mode in force at the last cycle with a vehicle
    on: bool = False  # released to charge (a solar box: started, not paused)
    since: dt.datetime | None = None  # released at
    phases: int | None = None  # the phases it was last asked to charge on
    checked_at: dt.datetime | None = None  # the last 3-phase check (1 phase in automatic)
    enough_since: dt.datetime | None = None  # enough surplus to start since (start delay)
    short_since: dt.datetime | None = None  # short of surplus since (cloud hysteresis)
    paused_at: dt.datetime | None = None  # paused for lack of surplus at (resume wait)
    # The cloud's recent rhythm (issue 19.4, wallbox.clouds): since when the surplus has been short
    # of what the box needs (charging or waiting), and the stretches of the last hour.
    lacking_since: dt.datetime | None = None
    spells: tuple[Spell, ...] = ()

    def stopped(self) -> BoxMemory:
        """A box a person stopped (Lock, pause): no hysteresis, no resume wait; the clouds of the
        last hour stay known."""
        return BoxMemory(mode=self.mode, phases=self.phases, checked_at=self.checked_at, spells=self.spells)


@dataclass(frozen=True, slots=True)
class KeptOutDraw:
    """A box the house battery was kept from covering, as of the last cycle it was read (WB-7)."""

    at: dt.datetime
    mode: str
    draw_w: float


@dataclass(frozen=True, slots=True)
class ModesMemory:
    """:class:`~wallbox.modes.WallboxModes`: every configured box by name, and the boxes kept
    out of the battery at the last cycle each was read."""

    boxes: Mapping[str, BoxMemory] = field(default_factory=dict)
    kept_out: Mapping[str, KeptOutDraw] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """The grid phases a box was seen loading while it charged, on ``phases`` of its own."""

    phases: int
    grid: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class GuardsMemory:
    """:class:`~wallbox.guards.WallboxGuards`: the phases seen of each contending box."""

    seen: Mapping[str, PhaseRecord] = field(default_factory=dict)
