"""What the connections page, the API and ``manage.py eebus status`` show of a plant (SG-4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from smartgrid.eebus import identities
from smartgrid.eebus.models import EebusPeer
from smartgrid.eebus.ski import format_ski


@dataclass(frozen=True)
class OwnIdentity:
    ship_id: str
    ski: str
    port: int
    error: str = ""

    @property
    def ski_grouped(self) -> str:
        return format_ski(self.ski)


def own_identity(plant: Any) -> OwnIdentity:
    """The plant's SHIP ID and SKI (created on first use) and its SHIP port."""
    index = list(type(plant)._default_manager.order_by("pk").values_list("pk", flat=True)).index(plant.pk)
    port = identities.ship_port(index)
    try:
        identity = identities.load(plant.pk)
    except (OSError, ValueError) as exc:
        return OwnIdentity("", "", port, error=f"the EEBus certificate cannot be read: {exc}")
    return OwnIdentity(identity.ship_id, identity.ski, port)


def peer_row(peer: EebusPeer, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    return {
        "ski": peer.ski,
        "ship_id": peer.ship_id,
        "host": peer.host,
        "port": peer.port,
        "brand": peer.brand,
        "model": peer.model,
        "type": peer.device_type,
        "description": peer.description,
        "trusted": peer.trusted,
        "status": peer.status(now),
        "status_label": str(peer.status_label()),
        "connected_since": peer.connected_since if peer.is_connected(now) else None,
        "last_seen": peer.last_seen,
        "last_error": peer.last_error,
    }


def peer_rows(plant: Any) -> list[dict[str, Any]]:
    now = timezone.now()
    return [peer_row(peer, now) for peer in EebusPeer.objects.filter(plant=plant)]
