"""SHIP 1.0.1 transport of the EEBus stack: identity, TLS websockets, handshake, trust, mDNS.

See ``smartgrid.ship.node`` for the API the SPINE layer uses.
"""

from .connection import ShipConnection
from .frames import ConnectionClosed, ShipError, ShipRejected, ShipTimers
from .identity import ShipIdentity, load_or_create_identity, normalize_ski, ski_from_certificate
from .node import DEFAULT_PORT, ShipNode
from .trust import DiscoveredService, MemoryTrustStore, TrustStore

__all__ = [
    "DEFAULT_PORT",
    "ConnectionClosed",
    "DiscoveredService",
    "MemoryTrustStore",
    "ShipConnection",
    "ShipError",
    "ShipIdentity",
    "ShipNode",
    "ShipRejected",
    "ShipTimers",
    "TrustStore",
    "load_or_create_identity",
    "normalize_ski",
    "ski_from_certificate",
]
