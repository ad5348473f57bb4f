"""Trust by SKI: who may complete a SHIP connection, and what was seen on the network."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .identity import normalize_ski


@dataclass
class DiscoveredService:
    """A SHIP node seen via mDNS (``source="mdns"``) or knocking on our port (``source="incoming"``)."""

    ski: str
    host: str
    port: int
    txt: dict[str, str] = field(default_factory=dict)
    source: str = "mdns"
    name: str = ""
    last_seen: float = field(default_factory=time.time)

    @property
    def ship_id(self) -> str:
        return self.txt.get("id", "")

    @property
    def path(self) -> str:
        return self.txt.get("path", "/ship/") or "/ship/"


@runtime_checkable
class TrustStore(Protocol):
    """What ``ShipNode`` asks about remote SKIs (all SKIs in the 40-hex wire form).

    The methods are called on the node's event loop and must not block: an implementation on a
    database keeps the trusted SKIs in memory and writes changes through elsewhere (a thread, a
    queue). ``note_discovered`` gets port 0 and an empty TXT for an unknown SKI that connected to
    us (we know its address, not its server port). ``MemoryTrustStore`` is the in-memory version.
    """

    def is_trusted(self, ski: str) -> bool: ...

    def ship_id_for(self, ski: str) -> str | None: ...

    def remember_ship_id(self, ski: str, ship_id: str) -> None: ...

    def note_discovered(self, ski: str, host: str, port: int, txt: dict[str, str]) -> None: ...


class MemoryTrustStore:
    """TrustStore in memory (tests, the simulated control box)."""

    def __init__(self, trusted: dict[str, str | None] | None = None):
        self._trusted: dict[str, str | None] = {normalize_ski(k): v for k, v in (trusted or {}).items()}
        self.discovered: dict[str, DiscoveredService] = {}

    def trust(self, ski: str, ship_id: str | None = None) -> None:
        ski = normalize_ski(ski)
        self._trusted[ski] = ship_id or self._trusted.get(ski)

    def untrust(self, ski: str) -> None:
        self._trusted.pop(normalize_ski(ski), None)

    def trusted_skis(self) -> list[str]:
        return sorted(self._trusted)

    def is_trusted(self, ski: str) -> bool:
        return ski in self._trusted

    def ship_id_for(self, ski: str) -> str | None:
        return self._trusted.get(ski)

    def remember_ship_id(self, ski: str, ship_id: str) -> None:
        if ski in self._trusted:
            self._trusted[ski] = ship_id

    def note_discovered(self, ski: str, host: str, port: int, txt: dict[str, str]) -> None:
        old = self.discovered.get(ski)
        if old is not None and not port:  # an incoming knock does not replace what mDNS told
            old.last_seen = time.time()
            return
        self.discovered[ski] = DiscoveredService(ski, host, port, dict(txt), "mdns" if port else "incoming")
