"""The cloud's recent rhythm and the cloud hysteresis inside the manual's timers: when does a
Solar Pure box short of surplus pause, when may it start again? Pure functions: no Django, no
sockets, no clock (issue 19 part 4).

The outer bound
---------------
Inside the cloud hysteresis (WB-6) the car keeps its minimum current and the grid pays what the
sun lacks. The manual bounds this from above: pause after about 5 minutes, resume no sooner than
about 8 minutes after the pause. The product never pauses later nor waits longer; it pauses
sooner and resumes sooner where what it knows says so (:func:`pause_now`, :func:`resume_wait_s`):

- after :data:`PAUSE_AFTER_S` (evcc's disable delay) when the grid pays at least
  :data:`GRID_PAYS_W` of the box's minimum power now; a shallow dip, or one a house battery
  bridges, rides the 5 minutes (little or no grid, a start saved);
- sooner in a cloud bank (:func:`pause_early`, below);
- after a pause, the start delay (a minute of enough surplus without a break) proves the sun back
  steadily: no 8-minute wait with the look-ahead.

A cloud bank
------------
The box remembers every stretch in which its share of the surplus stayed below what it needs
(charging or waiting), for an hour (:data:`RHYTHM_S`). A stretch is a cloud bank when at least
:data:`MIN_SPELLS` stretches ended within the hour, it has lasted :data:`MARGIN_S` longer than
every one of them and at least :data:`MIN_AGE_S`, the sun gives the box less than
:data:`DEEP_SHARE` of its minimum power, and no house battery can bridge the deficit.

Why these numbers: pausing sooner saves grid but gives up the sun the car got during the dip (the
solar energy falls); riding longer saves a start and the minute of sun a restart waits for, but
the grid pays. Measured over 22 seeded cloudy hours of the simulator (``bench/solar_rhythm.py``,
docs/wallbox.md), these rules are never worse than evcc's 3 min / 1 min on solar energy, grid
share or starts; a bank rule on shallower clouds (up to 40 % of the minimum) and fixed pauses
sooner than 3 minutes were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HYSTERESIS_S = 300.0  # the manual's outer bound (wallbox.common has the same): never later
RESUME_S = 480.0  # the manual's resume wait after a pause (wallbox.common has the same)

RHYTHM_S = 3600.0  # stretches short of surplus are remembered this long after they ended
MAX_SPELLS = 60  # and at most this many (the newest)
MIN_SPELLS = 3  # fewer recent stretches than this say nothing: ride on as the manual does
MARGIN_S = 30.0  # a cloud bank has lasted this much longer than every recent stretch ...
MIN_AGE_S = 60.0  # ... and at least this long
DEEP_SHARE = 0.1  # ... and the sun gives less than this share of the box's minimum power

PAUSE_AFTER_S = 180.0  # a dip the grid pays for pauses after this (evcc's disable delay) ...
GRID_PAYS_W = 400.0  # ... when the grid pays at least this much of the box's minimum power now
STEADY_S = 60.0  # after a pause, the sun back for this long (the start delay) resumes at once


@dataclass(frozen=True, slots=True)
class Spell:
    """A past stretch of a box's surplus short of what it needs: when it ended, how long it was."""

    ended_at: dt.datetime
    duration_s: float


def remember(spells: Iterable[Spell], ended: Spell) -> tuple[Spell, ...]:
    """``spells`` with ``ended`` added; those that ended more than :data:`RHYTHM_S` before it are
    dropped, the newest :data:`MAX_SPELLS` kept, oldest first."""
    now = ended.ended_at
    kept = [s for s in (*spells, ended) if s.duration_s > 0.0 and 0.0 <= (now - s.ended_at).total_seconds() <= RHYTHM_S]
    kept.sort(key=lambda s: s.ended_at)
    return tuple(kept[-MAX_SPELLS:])


def recent(spells: Iterable[Spell], now: dt.datetime) -> list[float]:
    """The durations of the stretches that ended within :data:`RHYTHM_S` before ``now``."""
    return [s.duration_s for s in spells if 0.0 <= (now - s.ended_at).total_seconds() <= RHYTHM_S]


def bank_after_s(durations: Sequence[float]) -> float | None:
    """How long a stretch must last to count as a cloud bank, given the recent ``durations``;
    ``None`` when they are too few to say (fewer than :data:`MIN_SPELLS`) or the answer would be
    the hysteresis itself."""
    if len(durations) < MIN_SPELLS:
        return None
    after = max(MIN_AGE_S, max(durations) + MARGIN_S)
    return after if after < HYSTERESIS_S else None


def pause_early(age_s: float, sun_w: float, min_power_w: float, bridge_w: float, durations: Sequence[float]) -> bool:
    """Pause a box ``age_s`` into its cloud hysteresis, before the 5 minutes are up?

    ``sun_w``: what the surplus gives the box now; ``min_power_w``: its minimum charging power;
    ``bridge_w``: what a house battery may discharge to bridge the deficit (0 without one);
    ``durations``: the recent stretches short of surplus (:func:`recent`)."""
    if min_power_w <= 0.0 or age_s >= HYSTERESIS_S:
        return False
    if sun_w >= DEEP_SHARE * min_power_w:
        return False  # a shallow cloud: the sun still pays most of it
    if bridge_w >= min_power_w - max(sun_w, 0.0):
        return False  # the battery bridges it: no grid to save
    after = bank_after_s(durations)
    return after is not None and age_s >= after


def grid_pays_w(sun_w: float, min_power_w: float, bridge_w: float) -> float:
    """What the grid pays of a box's minimum power now: what neither the sun nor a bridging
    house battery covers (never below 0)."""
    return max(0.0, min_power_w - max(sun_w, 0.0) - max(bridge_w, 0.0))


def pause_now(age_s: float, sun_w: float, min_power_w: float, bridge_w: float, durations: Sequence[float]) -> bool:
    """Pause a box ``age_s`` into its cloud hysteresis (the look-ahead's whole pause rule)?

    - at the manual's 5 minutes (:data:`HYSTERESIS_S`) always: the outer bound;
    - after :data:`PAUSE_AFTER_S` when the grid pays at least :data:`GRID_PAYS_W` of the box's
      minimum power now (a shallow dip, or one a battery bridges, rides on to the 5 minutes);
    - sooner in a cloud bank (:func:`pause_early`)."""
    if min_power_w <= 0.0:
        return False
    if age_s >= HYSTERESIS_S:
        return True
    if age_s >= PAUSE_AFTER_S and grid_pays_w(sun_w, min_power_w, bridge_w) >= GRID_PAYS_W:
        return True
    return pause_early(age_s, sun_w, min_power_w, bridge_w, durations)


def resume_wait_s(look_ahead: bool) -> float:
    """How long after a pause a box may start again at the earliest, the start delay aside (it
    runs during the wait): the manual's 8 minutes, or none with the look-ahead, whose start
    delay (:data:`STEADY_S` of enough surplus without a break) is what proves the sun is back."""
    return RESUME_S if not look_ahead else 0.0
