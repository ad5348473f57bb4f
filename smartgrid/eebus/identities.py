"""Each plant's own SHIP identity: an EC P-256 certificate and key in
``KSEM_EEBUS_DIR/plant-<id>/`` (default ``var/eebus/plant-<id>/``), created once on first use
and never changed afterwards: its SKI is what the grid operator registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from smartgrid.ship import identity as ship_identity


def identity_dir(plant_id: int) -> Path:
    return Path(settings.EEBUS_DIR) / f"plant-{plant_id}"


def load(plant_id: int) -> Any:
    """The plant's identity, created on first use (``smartgrid.ship.identity``)."""
    return ship_identity.load_or_create(identity_dir(plant_id), **device_names(plant_id))


def device_names(plant_id: int) -> dict[str, str]:
    return {"common_name": f"KSEM-plant-{plant_id}"}


def own_ski(plant_id: int) -> str:
    return str(load(plant_id).ski)


def ship_port(index: int) -> int:
    """The SHIP port of the ``index``-th plant (0 = the first): KSEM_EEBUS_PORT, then the ports after it."""
    return int(settings.EEBUS_PORT) + index


def ship_id(identity: Any, plant_id: int) -> str:
    """The plant's SHIP ID: never changes, because it is derived from the certificate's SKI."""
    value = getattr(identity, "ship_id", None)
    return str(value) if value else f"KOSTAL-KSEM-{str(identity.ski)[:12]}-{plant_id}"
