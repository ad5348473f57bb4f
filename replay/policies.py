"""The controller policies a replay can run: the product's own controllers, or the same tuple with
the wallbox modes replaced by a reference implementation of evcc's documented PV mode, so that a
replay compares the two on the same sun and house (``manage.py replay --policy evcc``)."""

from __future__ import annotations

from energy.control import Controller
from plant.controllers import CONTROLLERS
from replay.evcc import EvccPvReference
from wallbox.modes import WallboxModes

PRODUCT = "product"
EVCC = "evcc"
MANUAL = "manual"
POLICIES = (PRODUCT, EVCC, MANUAL)

# evcc's documented PV mode in place of the wallbox modes (the last controller); the guards stay.
EVCC_CONTROLLERS: tuple[Controller, ...] = (*CONTROLLERS[:-1], EvccPvReference())
# The product's wallbox modes with the manual's cloud hysteresis alone (5 min, 8 min wait): none of
# the look-ahead acting sooner inside it (issue 19 part 4 measures what it changes on one trace).
MANUAL_CONTROLLERS: tuple[Controller, ...] = (*CONTROLLERS[:-1], WallboxModes(look_ahead=False))


def controllers_for(policy: str = PRODUCT) -> tuple[Controller, ...]:
    """The controller tuple of a policy: the product's own, evcc's PV mode for the wallboxes, or
    the product's wallbox modes with the manual's timers alone."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    return {EVCC: EVCC_CONTROLLERS, MANUAL: MANUAL_CONTROLLERS}.get(policy, CONTROLLERS)
