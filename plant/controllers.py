"""The product's controllers, highest priority first (grid-operator limits > main-fuse guard >
unbalanced load > feed-in limitation > battery > wallbox modes).

One explicit tuple: nothing registers itself by being imported. A higher controller bounds
what the ones after it may ask (see :mod:`energy.control`).

``controllers_for("evcc")`` is the same tuple with the wallbox modes replaced by a reference
implementation of evcc's documented PV mode, so that a replay can compare the two on the same
sun and house (``manage.py replay --policy evcc``).
"""

from __future__ import annotations

from energy.control import Controller
from inverters.control import BatteryManagement, FeedInLimitation, GridOperatorLimits
from wallbox.evcc_reference import EvccPvReference
from wallbox.guards import WallboxGuards
from wallbox.modes import WallboxModes

PRODUCT = "product"
EVCC = "evcc"
POLICIES = (PRODUCT, EVCC)

CONTROLLERS: tuple[Controller, ...] = (
    GridOperatorLimits(),
    WallboxGuards(),  # the grid operator's LPC, main fuse (WB-8) and unbalance (WB-9) on the boxes
    FeedInLimitation(),
    BatteryManagement(),
    WallboxModes(),
)
# evcc's documented PV mode in place of the wallbox modes; the guards stay.
EVCC_CONTROLLERS: tuple[Controller, ...] = (*CONTROLLERS[:-1], EvccPvReference())


def controllers_for(policy: str = PRODUCT) -> tuple[Controller, ...]:
    """The controller tuple of a policy: the product's own, or evcc's PV mode for the wallboxes."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    return EVCC_CONTROLLERS if policy == EVCC else CONTROLLERS
