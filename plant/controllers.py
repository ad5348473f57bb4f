"""The product's controllers, highest priority first (grid-operator limits > main-fuse guard >
unbalanced load > feed-in limitation > battery > wallbox modes).

One explicit tuple: nothing registers itself by being imported. A higher controller bounds
what the ones after it may ask (see :mod:`energy.control`).

The replay's yardstick, evcc's PV mode in place of the wallbox modes, is no product feature: it
lives beside the replay (:mod:`replay.policies`).
"""

from __future__ import annotations

from energy.control import Controller
from inverters.battery_control import BatteryManagement
from inverters.control import FeedInLimitation, GridOperatorLimits
from wallbox.guards import WallboxGuards
from wallbox.modes import WallboxModes

CONTROLLERS: tuple[Controller, ...] = (
    GridOperatorLimits(),
    WallboxGuards(),  # the grid operator's LPC, main fuse (WB-8) and unbalance (WB-9) on the boxes
    FeedInLimitation(),
    BatteryManagement(),
    WallboxModes(),
)
