"""Pure controllers for charging cars at ENECTOR wallboxes (WB-4 .. WB-10, WB-14).

Every controller is a function of one cycle's :class:`~energy.control.Inputs`; it touches no
Django, socket or clock. Two run in the product, highest priority first
(:data:`WALLBOX_CONTROLLERS`):

``WallboxGuards`` (:mod:`wallbox.guards`: grid-operator LPC, main fuse WB-8, unbalanced load WB-9)
    bounds each box's charging current (``Limit.max_value`` on CHARGING_CURRENT_A). A bound is
    always 0 or at least the box's minimum current, never in between.
``WallboxModes`` (:mod:`wallbox.modes`, the solar modes in :mod:`wallbox.solar`: WB-5 modes,
WB-6 hysteresis, WB-7 battery use, WB-4 phases, WB-10, WB-14)
    requests a current and a phase count for every configured box, each with its reason.

What they share (constants, the mode in force, timers) is in :mod:`wallbox.common`. evcc's
documented "pv" mode, which the replay compares with the product's modes, is in
:mod:`replay.evcc`.
"""

from __future__ import annotations

from energy.control import Controller
from wallbox.guards import WallboxGuards
from wallbox.modes import WallboxModes

# The product's wallbox controllers, highest priority first. The lead places them after the
# grid-operator limits and before/after the inverter controllers as DESIGN.md orders them.
WALLBOX_CONTROLLERS: tuple[Controller, ...] = (WallboxGuards(), WallboxModes())

__all__ = ["WALLBOX_CONTROLLERS"]
