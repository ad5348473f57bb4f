"""The product's controllers, highest priority first (grid-operator limits > main-fuse guard >
unbalanced load > feed-in limitation > battery > wallbox modes).

One explicit tuple: nothing registers itself by being imported. A higher controller bounds
what the ones after it may ask (see :mod:`energy.control`).
"""

from __future__ import annotations

from energy.control import Controller
from inverters.control import BatteryManagement, FeedInLimitation, GridOperatorLimits

CONTROLLERS: tuple[Controller, ...] = (
    GridOperatorLimits(),
    FeedInLimitation(),
    BatteryManagement(),
)
