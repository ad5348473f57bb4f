"""ShipNode: one SHIP node (server and client) with trust by SKI and mDNS.

Usage (the SPINE layer and the service wiring use exactly this)::

    identity = load_or_create_identity(folder, ship_id="KOSTAL-KSEM-123", common_name="KSEM-123")
    node = ShipNode(identity, trust_store, host="0.0.0.0", port=4711,
                    device={"brand": "KOSTAL", "model": "KSEM", "type": "EnergyManagementSystem",
                            "serial": "123", "categories": [2]},
                    on_connection=handle, mdns=True, mdns_interfaces=None)
    await node.start()            # listens; node.port is the bound port (also when 0 was given)
    conn = await node.connect(host, port, ski)   # client role; the peer's certificate must carry `ski`
    node.approve(ski)             # the installer coupled `ski`: a pending hello turns ready
    node.decouple(ski)            # trust removed: live and pending connections of `ski` are dropped
    node.connections              # completed connections, newest per SKI
    node.discovered               # {ski: DiscoveredService} from mDNS and from unknown SKIs knocking
    await node.stop()

``on_connection(conn)`` is awaited in its own task for every connection that completed the SHIP
handshake, in either role; when it returns or raises, the connection is closed. ``ShipConnection``
gives ``remote_ski``, ``remote_ship_id``, ``await send(spine_dict)``, ``await recv()`` (raises
``ConnectionClosed``), ``await close(reason)`` and ``closed`` (asyncio.Event). SPINE messages are
plain JSON objects (``{"datagram": {...}}``); only SHIP deals with the EEBus-JSON array form.

Trust: the trust store is the caller's (the product keeps it in its database). An incoming SKI the
store does not trust gets hello ``pending`` and is recorded as discovered; it waits at most
``timers.pending_max`` for ``approve`` and is refused (hello aborted, close 4452) otherwise. The
caller records the trust in its store and then calls ``approve``. Outgoing connections are only
made on request (``connect``), so they are trusted by intent. Two connections with the same SKI:
the one initiated by the node with the higher SKI is kept (ship-go's rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .connection import ShipConnection
from .frames import CLOSE_NORMAL, ShipError, ShipTimers
from .identity import ShipIdentity, normalize_ski
from .mdns import MdnsAgent, instance_name, txt_record
from .transport import TransportError, WsClosed, WsConnection, open_tls
from .trust import DiscoveredService, TrustStore

log = logging.getLogger(__name__)

DEFAULT_PORT = 4711
OnConnection = Callable[[ShipConnection], Awaitable[None]]


class ShipNode:
    def __init__(
        self,
        identity: ShipIdentity,
        trust_store: TrustStore,
        *,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        device: dict[str, Any],
        on_connection: OnConnection,
        mdns: bool = True,
        mdns_interfaces: list[str] | None = None,
        timers: ShipTimers | None = None,
        register: bool = False,
        path: str = "/ship/",
    ):
        self.identity = identity
        self.ski = identity.ski
        self.trust_store = trust_store
        self.host = host
        self.port = port
        self.device = dict(device)
        self.on_connection = on_connection
        self.mdns_enabled = mdns
        self.mdns_interfaces = mdns_interfaces
        self.timers = timers or ShipTimers()
        self.register = register
        self.path = path
        self._server: asyncio.Server | None = None
        self._mdns: MdnsAgent | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._live: dict[str, list[ShipConnection]] = {}  # every not-yet-closed connection per SKI
        self._approved: set[str] = set()  # approved in this run (the store may lag behind)
        self._discovered: dict[str, DiscoveredService] = {}
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._server = await asyncio.start_server(self._on_accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("SHIP node %s listening on %s:%s", self.ski, self.host, self.port)
        if self.mdns_enabled:
            self._mdns = MdnsAgent(
                own_ski=self.ski,
                interfaces=self.mdns_interfaces,
                on_found=self._on_mdns_found,
                on_removed=self._on_mdns_removed,
            )
            txt = txt_record(
                ship_id=self.identity.ship_id, ski=self.ski, device=self.device, register=self.register, path=self.path
            )
            try:
                await self._mdns.start(name=instance_name(self.device), port=self.port, txt=txt)
            except OSError as exc:
                log.warning("SHIP: mDNS not available (%s); running without announce/browse", exc)
                await self._mdns.stop()
                self._mdns = None

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._mdns is not None:
            await self._mdns.stop()
            self._mdns = None
        conns = [c for group in self._live.values() for c in group]
        await asyncio.gather(*(c.close("shutdown") for c in conns), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    # -- views -----------------------------------------------------------------------------------
    @property
    def connections(self) -> list[ShipConnection]:
        """Connections that completed the SHIP handshake and are open."""
        return [c for group in self._live.values() for c in group if c.complete and not c.closed.is_set()]

    @property
    def pending(self) -> list[ShipConnection]:
        """Incoming connections of unknown SKIs kept in hello ``pending``."""
        return [c for group in self._live.values() for c in group if c.pending]

    @property
    def discovered(self) -> dict[str, DiscoveredService]:
        return dict(self._discovered)

    def connection_for(self, ski: str) -> ShipConnection | None:
        for conn in self._live.get(normalize_ski(ski), []):
            if conn.complete and not conn.closed.is_set():
                return conn
        return None

    # -- trust -----------------------------------------------------------------------------------
    def approve(self, ski: str) -> None:
        ski = normalize_ski(ski)
        self._approved.add(ski)
        for conn in self._live.get(ski, []):
            conn.approve()

    def decouple(self, ski: str) -> None:
        ski = normalize_ski(ski)
        self._approved.discard(ski)
        for conn in list(self._live.get(ski, [])):
            if conn.complete:
                self._spawn(conn.close("removedConnection"))
            elif conn.state == "hello":
                conn.reject()
            else:
                self._spawn(conn.abort(CLOSE_NORMAL, "decoupled"))

    def _trusted(self, ski: str) -> bool:
        return ski in self._approved or bool(self.trust_store.is_trusted(ski))

    # -- discovery ---------------------------------------------------------------------------------
    def _on_mdns_found(self, service: DiscoveredService) -> None:
        self._discovered[service.ski] = service
        with contextlib.suppress(Exception):
            self.trust_store.note_discovered(service.ski, service.host, service.port, service.txt)

    def _on_mdns_removed(self, ski: str) -> None:
        service = self._discovered.get(ski)
        if service is not None and service.source == "mdns":
            del self._discovered[ski]

    def _note_incoming(self, ski: str, host: str) -> None:
        if ski not in self._discovered:
            self._discovered[ski] = DiscoveredService(ski, host, 0, {}, "incoming")
        with contextlib.suppress(Exception):
            self.trust_store.note_discovered(ski, host, 0, {})

    # -- connections -------------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _keep_new(self, ski: str, incoming: bool) -> bool:
        """ship-go's double-connection rule: keep the connection initiated by the higher SKI."""
        existing = [c for c in self._live.get(ski, []) if not c.closed.is_set()]
        if not existing:
            return True
        keep = ski > self.ski if incoming else self.ski > ski
        if keep:
            for old in existing:
                log.info("SHIP %s: double connection, closing the older one", ski)
                self._spawn(old.close("double connection") if old.complete else old.abort(1000, "double connection"))
        return keep

    def _make(self, ws: WsConnection, *, role: str, ski: str, host: str, port: int) -> ShipConnection:
        conn = ShipConnection(
            ws,
            role="server" if role == "server" else "client",
            local_ship_id=self.identity.ship_id,
            remote_ski=ski,
            trusted=role == "client" or self._trusted(ski),
            known_ship_id=self.trust_store.ship_id_for(ski),
            timers=self.timers,
            host=host,
            port=port,
        )
        conn.on_ship_id = self._remember_ship_id
        return conn

    def _remember_ship_id(self, ski: str, ship_id: str) -> None:
        with contextlib.suppress(Exception):
            self.trust_store.remember_ship_id(ski, ship_id)

    async def _on_accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) else ""
        if self._stopping:
            writer.close()
            return
        t = self.timers
        try:
            tls = await open_tls(self.identity, reader, writer, server=True, handshake_timeout=t.tls_handshake)
        except (TransportError, ConnectionError, OSError) as exc:
            log.info("SHIP: connection from %s refused: %s", host, exc)
            writer.close()
            return
        try:
            ski = tls.peer_ski()
            if ski == self.ski:
                raise TransportError("peer uses our own SKI")
            ws = await WsConnection.accept(
                tls,
                max_message=t.max_message,
                ping_interval=t.ping_interval,
                pong_timeout=t.pong_timeout,
                handshake_timeout=t.ws_handshake,
            )
        except (TransportError, WsClosed, ConnectionError, OSError, TimeoutError) as exc:
            log.info("SHIP: connection from %s refused: %s", host, exc or type(exc).__name__)
            await tls.close()
            return
        except Exception as exc:  # noqa: BLE001 - hostile bytes in the HTTP upgrade must not take the node down
            log.warning("SHIP: connection from %s refused (bad WebSocket upgrade): %s", host, exc)
            await tls.close()
            return
        if not self._trusted(ski):
            self._note_incoming(ski, host)
        if not self._keep_new(ski, incoming=True):
            await asyncio.sleep(0.1)
            await ws.close(1000, "double connection")
            return
        conn = self._make(ws, role="server", ski=ski, host=host, port=0)
        await self._run(conn)

    async def connect(self, host: str, port: int, ski: str, *, path: str | None = None) -> ShipConnection:
        """Dial a SHIP server (client role); its certificate must carry ``ski``. Raises ShipError."""
        expected = normalize_ski(ski)
        t = self.timers
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), t.tls_handshake)
        except (OSError, TimeoutError) as exc:
            raise ShipError(f"cannot reach {host}:{port}: {exc or 'timeout'}") from None
        try:
            tls = await open_tls(self.identity, reader, writer, server=False, handshake_timeout=t.tls_handshake)
        except (TransportError, ConnectionError, OSError) as exc:
            writer.close()
            raise ShipError(f"TLS with {host}:{port} failed: {exc}") from None
        try:
            actual = tls.peer_ski()
            if actual != expected:
                raise TransportError(f"SKI mismatch: expected {expected}, {host}:{port} presents {actual}")
            uri_host = f"[{host}]" if ":" in host else host
            ws = await WsConnection.connect(
                tls,
                f"wss://{uri_host}:{port}{path if path is not None else self.path}",
                max_message=t.max_message,
                ping_interval=t.ping_interval,
                pong_timeout=t.pong_timeout,
                handshake_timeout=t.ws_handshake,
            )
        except (TransportError, ConnectionError, OSError, TimeoutError) as exc:
            await tls.close()
            raise ShipError(str(exc) or "WebSocket handshake timed out") from None
        except Exception as exc:  # noqa: BLE001 - a broken server answer is the peer's fault, not ours
            await tls.close()
            raise ShipError(f"WebSocket handshake with {host}:{port} failed: {exc}") from None
        if not self._keep_new(expected, incoming=False):
            self._spawn(self._close_later(ws))
            raise ShipError("double connection: the existing connection is kept")
        conn = self._make(ws, role="client", ski=expected, host=host, port=port)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spawn(self._run(conn, ready))
        await ready
        return conn

    async def _close_later(self, ws: WsConnection) -> None:
        await asyncio.sleep(0.1)
        await ws.close(1000, "double connection")

    async def _run(self, conn: ShipConnection, ready: asyncio.Future[None] | None = None) -> None:
        group = self._live.setdefault(conn.remote_ski, [])
        group.append(conn)
        try:
            try:
                await conn.handshake()
            except ShipError as exc:
                if ready is not None and not ready.done():
                    ready.set_exception(type(exc)(str(exc)))
                return
            log.info(
                "SHIP %s: connected with %s (%s, SHIP ID %s)",
                conn.role,
                conn.remote_ski,
                conn.host,
                conn.remote_ship_id,
            )
            if ready is not None and not ready.done():
                ready.set_result(None)
            try:
                await self.on_connection(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SHIP %s: connection handler failed", conn.remote_ski)
            await conn.close("handler finished")
        except asyncio.CancelledError:
            if ready is not None and not ready.done():
                ready.set_exception(ShipError("node stopped"))
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(conn.abort(1001, "shutdown"), 1.0)
        finally:
            if conn in group:
                group.remove(conn)
            if not group and self._live.get(conn.remote_ski) is group:
                del self._live[conn.remote_ski]
