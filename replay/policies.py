"""The controller policies a replay can run: the product's own controllers, or the same tuple with
the wallbox modes replaced by a reference implementation of evcc's documented PV mode, so that a
replay compares the two on the same sun and house (``manage.py replay --policy evcc``)."""

from __future__ import annotations

from energy.control import Controller
from plant.controllers import CONTROLLERS
from replay.evcc import EvccPvReference

PRODUCT = "product"
EVCC = "evcc"
POLICIES = (PRODUCT, EVCC)

# evcc's documented PV mode in place of the wallbox modes (the last controller); the guards stay.
EVCC_CONTROLLERS: tuple[Controller, ...] = (*CONTROLLERS[:-1], EvccPvReference())


def controllers_for(policy: str = PRODUCT) -> tuple[Controller, ...]:
    """The controller tuple of a policy: the product's own, or evcc's PV mode for the wallboxes."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    return EVCC_CONTROLLERS if policy == EVCC else CONTROLLERS
