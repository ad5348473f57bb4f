"""Each plant's own SHIP identity: an EC P-256 certificate and key and the SHIP ID in
``KSEM_EEBUS_DIR/plant-<id>/`` (default ``var/eebus/plant-<id>/``), created once on first use and
never changed afterwards: its SKI is what the grid operator registers."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings

from smartgrid.ship.identity import ShipIdentity, load_or_create_identity


def identity_dir(plant_id: int) -> Path:
    return Path(settings.EEBUS_DIR) / f"plant-{plant_id}"


def load(plant_id: int) -> ShipIdentity:
    """The plant's identity, created on first use (the SHIP ID only then: it is stored beside the key)."""
    return load_or_create_identity(
        identity_dir(plant_id),
        ship_id=f"KOSTAL-KSEM-G2-{plant_id}-{secrets.token_hex(4)}",
        common_name=f"KSEM-G2-plant-{plant_id}",
        organization="KSEM",
        country="DE",
    )


def own_ski(plant_id: int) -> str:
    return load(plant_id).ski


def ship_port(index: int) -> int:
    """The SHIP port of the ``index``-th plant (0 = the first): KSEM_EEBUS_PORT, then the ports after it."""
    return int(settings.EEBUS_PORT) + index
