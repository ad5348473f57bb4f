"""The database side of the EEBus service and of the pages (synchronous; the service calls it
through ``asgiref.sync.sync_to_async``). Every change an installer makes goes through here, with
the SKI validated where it enters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from smartgrid.eebus.models import EebusPeer
from smartgrid.eebus.ski import normalise_ski

MAX_TEXT = {"brand": 64, "model": 64, "device_type": 64, "description": 200, "ship_id": 200, "host": 255}
# A plant keeps at most this many peers nobody coupled (mDNS may show many nodes).
MAX_UNCOUPLED = 100


class PeerError(ValueError):
    """An installer's request that cannot be carried out (unknown SKI, bad host or port)."""


def _text(name: str, value: object) -> str:
    text = "" if value is None else str(value)
    text = "".join(ch for ch in text if ch.isprintable())
    return text[: MAX_TEXT[name]]


def validate_host(raw: str) -> str:
    host = (raw or "").strip()
    if not host:
        raise PeerError("the host is empty: give a host name or an IP address")
    if len(host) > MAX_TEXT["host"]:
        raise PeerError("the host name is longer than 255 characters")
    if any(ch.isspace() or ch in "/?#@" for ch in host):
        raise PeerError(f"{host!r} is not a host name or IP address")
    return host.strip("[]")


def validate_port(raw: object) -> int:
    try:
        port = int(str(raw))
    except (TypeError, ValueError):
        raise PeerError(f"the port {raw!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise PeerError(f"the port {port} is not between 1 and 65535")
    return port


def peers(plant_id: int) -> list[EebusPeer]:
    return list(EebusPeer.objects.filter(plant_id=plant_id))


def peer(plant_id: int, ski: str) -> EebusPeer | None:
    return EebusPeer.objects.filter(plant_id=plant_id, ski=normalise_ski(ski)).first()


def couple(plant_id: int, ski: str) -> EebusPeer:
    """Trust the SKI (SG-4 "couple"): the service accepts it and dials it if it knows the host."""
    value = normalise_ski(ski)
    found, _created = EebusPeer.objects.get_or_create(plant_id=plant_id, ski=value)
    if not found.trusted:
        found.trusted = True
        found.was_connected = False
        found.last_error = ""
        found.save(update_fields=["trusted", "was_connected", "last_error"])
    return found


def decouple(plant_id: int, ski: str) -> EebusPeer:
    """Remove the trust and drop the connection (the service closes it within a second). The peer
    stays in the list as discovered while mDNS still shows it; one entered by hand is removed."""
    value = normalise_ski(ski)
    found = EebusPeer.objects.filter(plant_id=plant_id, ski=value).first()
    if found is None:
        raise PeerError(f"no device with the SKI {value} is known to this plant")
    found.trusted = False
    found.disconnect_requested = found.is_connected()
    found.save(update_fields=["trusted", "disconnect_requested"])
    return found


def disconnect(plant_id: int, ski: str) -> EebusPeer:
    """Drop the connection and keep the trust: the peer (or our dialler, after its delay) connects again."""
    value = normalise_ski(ski)
    found = EebusPeer.objects.filter(plant_id=plant_id, ski=value).first()
    if found is None:
        raise PeerError(f"no device with the SKI {value} is known to this plant")
    if not found.is_connected():
        raise PeerError(f"{found.label} is not connected")
    found.disconnect_requested = True
    found.save(update_fields=["disconnect_requested"])
    return found


def connect(plant_id: int, host: str, port: object, ski: str) -> EebusPeer:
    """A new connection by host and SKI (a control box mDNS does not show): trusted, dialled by the service."""
    value = normalise_ski(ski)
    address = validate_host(host)
    number = validate_port(port)
    found, _created = EebusPeer.objects.get_or_create(plant_id=plant_id, ski=value)
    found.host, found.port, found.trusted, found.last_error = address, number, True, ""
    found.save(update_fields=["host", "port", "trusted", "last_error"])
    return found


# --- the running service's side -------------------------------------------------------------


@dataclass(frozen=True)
class PeerView:
    """What the service needs of a peer, read once a second."""

    ski: str
    trusted: bool
    ship_id: str
    host: str
    port: int | None
    disconnect_requested: bool


def load_views(plant_id: int) -> dict[str, PeerView]:
    rows = EebusPeer.objects.filter(plant_id=plant_id).values_list(
        "ski", "trusted", "ship_id", "host", "port", "disconnect_requested"
    )
    return {row[0]: PeerView(*row) for row in rows}


@dataclass
class Changes:
    """What the service learnt since the last write: discoveries, SHIP IDs, live connections."""

    discovered: dict[str, dict[str, Any]] = field(default_factory=dict)
    ship_ids: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    disconnects_done: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.discovered or self.ship_ids or self.errors or self.disconnects_done)


def discovered_fields(host: str, port: int | None, txt: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "host": _text("host", host),
        "port": port if isinstance(port, int) and 1 <= port <= 65535 else None,
        "brand": _text("brand", txt.get("brand")),
        "model": _text("model", txt.get("model")),
        "device_type": _text("device_type", txt.get("type")),
        "description": _text("description", txt.get("description") or txt.get("id")),
        "ship_id": _text("ship_id", txt.get("id")),
    }


@transaction.atomic
def write_changes(plant_id: int, changes: Changes, connected: Iterable[str], now: dt.datetime | None = None) -> None:
    """Apply what the service learnt, and mark the live connections (``alive_at`` = now)."""
    now = now or timezone.now()
    for ski, values in changes.discovered.items():
        found = EebusPeer.objects.filter(plant_id=plant_id, ski=ski).first()
        if found is None:
            if EebusPeer.objects.filter(plant_id=plant_id, trusted=False).count() >= MAX_UNCOUPLED:
                continue
            found = EebusPeer(plant_id=plant_id, ski=ski)
        for name, value in values.items():
            if value in ("", None):
                continue
            if name == "ship_id" and found.ship_id:
                continue  # the SHIP ID never changes once known
            setattr(found, name, value)
        found.last_seen = now
        found.save()
    for ski, ship_id in changes.ship_ids.items():
        EebusPeer.objects.filter(plant_id=plant_id, ski=ski, ship_id="").update(ship_id=_text("ship_id", ship_id))
    for ski, error in changes.errors.items():
        EebusPeer.objects.filter(plant_id=plant_id, ski=ski).update(last_error=error[:200])
    if changes.disconnects_done:
        EebusPeer.objects.filter(plant_id=plant_id, ski__in=changes.disconnects_done).update(disconnect_requested=False)
    live = set(connected)
    if live:
        EebusPeer.objects.filter(plant_id=plant_id, ski__in=live, connected_since__isnull=True).update(
            connected_since=now
        )
        EebusPeer.objects.filter(plant_id=plant_id, ski__in=live).update(
            alive_at=now, last_seen=now, was_connected=True, last_error=""
        )
    EebusPeer.objects.filter(plant_id=plant_id, connected_since__isnull=False).exclude(ski__in=live).update(
        connected_since=None, alive_at=None
    )


def forget_connections(plant_ids: Iterable[int]) -> None:
    """At the service's start and stop: nothing of ours is connected."""
    EebusPeer.objects.filter(plant_id__in=list(plant_ids)).update(connected_since=None, alive_at=None)
