"""The running EEBus service (``manage.py serve_eebus``): one SHIP node per plant, a SPINE
controllable system per connection, trust from the database.

Per plant (``Endpoint``):

- a SHIP server (the first plant on ``KSEM_EEBUS_PORT``, 4711; the next on the ports after it),
  announced over mDNS (``_ship._tcp``) unless switched off, and browsing for other nodes, which
  the trust store writes to the database as discovered;
- the plant's SPINE ``ControllableSystem`` on its database backend (LPC/LPP limits, failsafe
  values, heartbeat, MPC/MGCP measurements), served on every SHIP connection to a trusted SKI and
  refreshed every second (a changed limit or measurement is notified to the subscribers);
- once a second: the peers are read again (couple/decouple/disconnect from the page, the API
  or the console take effect within a second), a connection whose SKI is no longer trusted or
  that an installer disconnected is closed, and every trusted peer with a known address that is
  not connected is dialled, with ship-go's delays between attempts (0-3 s, then 3-10 s, then
  10-20 s, chosen at random so that two nodes dialling each other do not collide forever).

Nothing here blocks the event loop: database work runs in a thread (``sync_to_async``), and every
per-connection call is bounded by a timeout, so a slow or silent peer cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from asgiref.sync import sync_to_async

from smartgrid.eebus.trust import DbTrustStore

log = logging.getLogger("smartgrid.eebus")

TICK_S = 1.0
REFRESH_TIMEOUT_S = 2.0  # one controllable system's refresh
DIAL_TIMEOUT_S = 20.0  # TCP + TLS + SHIP handshake of an outgoing connection
# ship-go hub: the delay before the n-th connection attempt to one SKI (the last range repeats).
DIAL_DELAY_RANGES_S = ((0.0, 3.0), (3.0, 10.0), (10.0, 20.0))

DEVICE = {
    "brand": "KOSTAL",
    "model": "KSEM G2",
    "type": "EnergyManagementSystem",
    "categories": [2],  # SHIP device category 2: energy management system
}


def dial_delay_s(attempt: int, rng: random.Random | None = None) -> float:
    low, high = DIAL_DELAY_RANGES_S[min(attempt, len(DIAL_DELAY_RANGES_S) - 1)]
    return (rng or random).uniform(low, high)


@dataclass
class Live:
    connection: Any
    task: asyncio.Task[Any] | None = None
    closing: bool = False


@dataclass
class DialState:
    attempt: int = 0
    next_at: float = 0.0
    task: asyncio.Task[None] | None = None


@dataclass
class Endpoint:
    """One plant's SHIP node and its connections."""

    plant_id: int
    port: int
    host: str = "0.0.0.0"
    mdns: bool = True
    mdns_interfaces: Sequence[str] | None = None
    serial: str = ""
    node_factory: Callable[..., Any] | None = None
    system_factory: Callable[[], Awaitable[Any]] | None = None
    identity: Any = None
    node_options: dict[str, Any] = field(default_factory=dict)  # e.g. SHIP timers (tests)
    system: Any = field(init=False, default=None)
    trust: DbTrustStore = field(init=False)
    node: Any = field(init=False, default=None)
    live: dict[str, Live] = field(init=False, default_factory=dict)
    dials: dict[str, DialState] = field(init=False, default_factory=dict)
    _trusted: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.trust = DbTrustStore(self.plant_id)

    # --- start and stop ---

    async def start(self) -> None:
        from smartgrid.eebus import identities

        if self.identity is None:
            self.identity = await sync_to_async(identities.load, thread_sensitive=False)(self.plant_id)
        factory = self.system_factory or _default_system_factory(self.plant_id, self.identity, self.serial)
        self.system = await factory()
        await self.trust.refresh(())
        self._trusted = {view.ski for view in self.trust.trusted_peers()}
        factory = self.node_factory or _ship_node
        device = {**DEVICE, "serial": self.serial or f"plant-{self.plant_id}"}
        self.node = factory(
            self.identity,
            self.trust,
            host=self.host,
            port=self.port,
            device=device,
            on_connection=self.on_connection,
            mdns=self.mdns,
            mdns_interfaces=self.mdns_interfaces,
            **self.node_options,
        )
        await self.node.start()
        log.info("plant %s: SHIP on port %s, SKI %s", self.plant_id, self.node.port, self.identity.ski)

    async def stop(self) -> None:
        for state in self.dials.values():
            if state.task is not None:
                state.task.cancel()
        for ski in list(self.live):
            await self._close(ski, "service stopping")
        if self.node is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.node.stop(), 3.0)
        with contextlib.suppress(Exception):
            await self.trust.refresh(())

    # --- connections ---

    async def on_connection(self, connection: Any) -> None:
        """A SHIP connection is up (either direction): serve SPINE on it until it ends."""
        ski = str(connection.remote_ski).lower()
        if not self.trust.is_trusted(ski):
            log.warning("plant %s: refusing the connection of the untrusted SKI %s", self.plant_id, ski)
            await _close_quietly(connection, "not trusted")
            return
        previous = self.live.get(ski)
        if previous is not None and previous.connection is not connection:
            # Both sides dialled at once: keep the newer connection.
            await self._close(ski, "replaced by a newer connection")
        entry = Live(connection, asyncio.current_task())
        self.live[ski] = entry
        dial = self.dials.get(ski)
        if dial is not None:
            dial.attempt = 0
        self.trust.remember_ship_id(ski, str(getattr(connection, "remote_ship_id", "") or ""))
        log.info("plant %s: connected with %s", self.plant_id, ski)
        try:
            await self.system.serve(connection)
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            log.info("plant %s: connection with %s ended: %s", self.plant_id, ski, exc)
        except Exception:
            log.exception("plant %s: SPINE on the connection with %s failed", self.plant_id, ski)
        finally:
            if self.live.get(ski) is entry:
                del self.live[ski]
                self._schedule_dial(ski)
            await _close_quietly(connection, "connection ended")
            log.info("plant %s: disconnected from %s", self.plant_id, ski)

    async def _close(self, ski: str, reason: str) -> None:
        entry = self.live.pop(ski, None)
        if entry is None:
            return
        entry.closing = True
        await _close_quietly(entry.connection, reason)
        self._schedule_dial(ski)

    def _schedule_dial(self, ski: str) -> None:
        state = self.dials.setdefault(ski, DialState())
        state.next_at = time.monotonic() + dial_delay_s(state.attempt)
        state.attempt = min(state.attempt + 1, len(DIAL_DELAY_RANGES_S) - 1)

    # --- once a second ---

    async def tick(self) -> None:
        try:
            await self.trust.refresh(self.live.keys())
        except Exception as exc:  # noqa: BLE001  (the database may be away for a moment: keep serving)
            log.warning("plant %s: could not read the EEBus peers: %s", self.plant_id, exc)
            return
        await self._apply_trust()
        await self._refresh_systems()
        self._dial_due()

    async def _apply_trust(self) -> None:
        trusted = {view.ski for view in self.trust.trusted_peers()}
        for ski in trusted - self._trusted:
            _call(self.node, "approve", ski)
        for ski in self._trusted - trusted:
            _call(self.node, "decouple", ski)
            self.dials.pop(ski, None)
        self._trusted = trusted
        for ski in list(self.live):
            view = self.trust.views.get(ski)
            if view is None or not view.trusted:
                log.info("plant %s: %s was decoupled; closing its connection", self.plant_id, ski)
                await self._close(ski, "decoupled")
                if view is not None and view.disconnect_requested:
                    self.trust.disconnect_done(ski)
            elif view.disconnect_requested:
                log.info("plant %s: disconnecting %s as asked", self.plant_id, ski)
                await self._close(ski, "disconnected by the installer")
                self.trust.disconnect_done(ski)
        for view in self.trust.views.values():
            if view.disconnect_requested and view.ski not in self.live:
                self.trust.disconnect_done(view.ski)

    async def _refresh_systems(self) -> None:
        """Re-read the plant's limits and measurements and notify the subscribers of changes."""
        if self.system is None:
            return
        try:
            await asyncio.wait_for(self.system.refresh(), REFRESH_TIMEOUT_S)
        except TimeoutError:
            log.warning("plant %s: the SPINE refresh took over %g s", self.plant_id, REFRESH_TIMEOUT_S)
        except (ConnectionError, OSError) as exc:
            log.info("plant %s: SPINE refresh: %s", self.plant_id, exc)
        except Exception:
            log.exception("plant %s: the SPINE refresh failed", self.plant_id)

    def _dial_due(self) -> None:
        now = time.monotonic()
        for view in self.trust.trusted_peers():
            if view.ski in self.live or not view.host or not view.port or view.disconnect_requested:
                continue
            state = self.dials.setdefault(view.ski, DialState(next_at=now + dial_delay_s(0)))
            if state.task is not None and not state.task.done():
                continue
            if now < state.next_at:
                continue
            state.task = asyncio.create_task(self._dial(view.ski, view.host, view.port))

    async def _dial(self, ski: str, host: str, port: int) -> None:
        """Dial a trusted peer; the node hands the completed connection to ``on_connection``."""
        try:
            await asyncio.wait_for(self.node.connect(host, port, ski), DIAL_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  (whatever the dial met, it is retried after the delay)
            log.info("plant %s: could not connect to %s at %s:%s: %s", self.plant_id, ski, host, port, exc)
            self.trust.note_error(ski, f"connection to {host}:{port} failed: {exc or type(exc).__name__}"[:200])
            self._schedule_dial(ski)


async def _close_quietly(connection: Any, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(connection.close(reason), 2.0)


def _call(node: Any, name: str, ski: str) -> None:
    method = getattr(node, name, None)
    if method is None:
        return
    try:
        method(ski)
    except Exception:
        log.exception("SHIP node: %s(%s) failed", name, ski)


def _ship_node(*args: Any, **kwargs: Any) -> Any:
    from smartgrid.ship import ShipNode

    return ShipNode(*args, **kwargs)


def _default_system_factory(plant_id: int, identity: Any, serial: str) -> Callable[[], Awaitable[Any]]:
    """The plant's controllable system on its database backend; the backend starts in ``init``."""
    from smartgrid.backend import SmartgridBackend
    from smartgrid.spine.cs import ControllableSystem
    from smartgrid.spine.cs import Identity as SpineIdentity

    async def make() -> Any:
        backend = SmartgridBackend(plant_id)
        await backend.started()
        spine_identity = SpineIdentity(
            brand=str(DEVICE["brand"]),
            model=str(DEVICE["model"]),
            serial=serial or f"plant-{plant_id}",
            ship_id=identity.ship_id,
        )
        return ControllableSystem(cast(Any, backend), spine_identity)

    return make


class EebusService:
    """Every plant's endpoint, ticked once a second until ``stop`` is set."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints

    async def run(self, stop: asyncio.Event, started: Callable[[], Awaitable[None]] | None = None) -> None:
        from smartgrid.eebus import store

        await sync_to_async(store.forget_connections)([e.plant_id for e in self.endpoints])
        for endpoint in self.endpoints:
            await endpoint.start()
        if started is not None:
            await started()
        try:
            while not stop.is_set():
                began = time.monotonic()
                await asyncio.gather(*(endpoint.tick() for endpoint in self.endpoints))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.05, TICK_S - (time.monotonic() - began)))
        finally:
            for endpoint in self.endpoints:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(endpoint.stop(), 4.0)
