"""One SHIP connection: the handshake state machine (SHIP 1.0.1 ch. 13.4) and the data phase.

Phases, as ship-go runs them: CMI (``00 00`` both ways), hello (ready / pending with ``waiting``,
prolongation, abort), protocol handshake (announceMax -> select -> select, JSON-UTF8, version 1.0),
PIN state (``none`` only), access methods (SHIP ID; a changed SHIP ID of a known SKI is refused),
then data (type 0x02, SPINE in ``payload``) until a close (announce/confirm, WebSocket code 4001).
Every wait has a timer (``ShipTimers``), so a silent peer only ever costs its own connection; any
malformed or out-of-order message closes the connection with a logged reason.

This module runs the handshake; the connection's state, I/O and data phase are ``ShipLink``
(link.py), the shared codes, timers and errors frames.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .frames import (
    CLOSE_REJECTED,
    CLOSE_SHIP_ID_MISMATCH,
    CMI,
    MSG_CONTROL,
    MSG_DATA,
    MSG_INIT,
    PROT_ERR_MISMATCH,
    PROT_ERR_TIMEOUT,
    PROT_ERR_UNEXPECTED,
    Fatal,
    Role,
    ShipError,
    ShipRejected,
    ShipTimers,
    formats_of,
    keys_of,
    need_int,
    need_object,
    parse_frame,
)
from .link import ShipLink
from .transport import TransportError, WsClosed, WsConnection

log = logging.getLogger(__name__)


class ShipConnection(ShipLink):
    """A SHIP connection to one peer (``remote_ski``); created and driven by ``ShipNode``.

    SPINE uses ``send(datagram)``, ``recv()``, ``close(reason)`` and ``closed`` (an asyncio.Event).
    """

    def __init__(
        self,
        ws: WsConnection,
        *,
        role: Role,
        local_ship_id: str,
        remote_ski: str,
        trusted: bool,
        known_ship_id: str | None,
        timers: ShipTimers,
        host: str = "",
        port: int = 0,
    ):
        super().__init__(
            ws, role=role, local_ship_id=local_ship_id, remote_ski=remote_ski, timers=timers, host=host, port=port
        )
        self._trusted = trusted
        self._known_ship_id = known_ship_id
        self._approved = asyncio.Event()
        self._rejected = asyncio.Event()
        self.on_ship_id: Callable[[str, str], None] | None = None  # (ski, ship_id) once access methods passed

    def __repr__(self) -> str:
        return f"<ShipConnection {self.role} ski={self.remote_ski} state={self.state}>"

    @property
    def pending(self) -> bool:
        """True while we keep this peer in hello ``pending`` (waiting for the installer)."""
        return self.state == "hello" and not self._trusted and not self._approved.is_set()

    # -- user decisions -----------------------------------------------------------------------
    def approve(self) -> None:
        """The installer trusts this SKI: a pending hello turns ``ready``."""
        self._approved.set()

    def reject(self) -> None:
        """The installer refuses this SKI: a pending hello is aborted."""
        self._rejected.set()

    # -- handshake I/O ------------------------------------------------------------------------
    async def _next(self, wait_s: float, what: str) -> tuple[int, dict[str, Any] | None]:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), max(wait_s, 0.0))
        except TimeoutError:
            raise Fatal(f"timeout waiting for {what}", prot_error=PROT_ERR_TIMEOUT) from None
        except WsClosed as exc:
            raise Fatal(f"peer closed the connection while waiting for {what} ({exc.code} {exc.reason})") from None
        try:
            return parse_frame(raw)
        except ValueError as exc:
            raise Fatal(f"malformed message while waiting for {what}: {exc}") from None

    # -- handshake ----------------------------------------------------------------------------
    async def handshake(self) -> None:
        """Run CMI, hello, protocol, PIN and access methods; raise ShipError (connection closed) on failure."""
        try:
            await self._cmi()
            self.state = "hello"
            await self._hello()
            self.state = "protocol"
            await self._protocol()
            self.state = "pin"
            await self._pin()
            self.state = "access"
            await self._access()
        except Fatal as exc:
            await self._fail(exc)
            if exc.hello_abort or exc.code == CLOSE_REJECTED:
                raise ShipRejected(exc.reason) from None
            raise ShipError(exc.reason) from None
        except (TransportError, WsClosed) as exc:
            await self._fail(Fatal(f"transport failed during the handshake: {exc}"))
            raise ShipError(str(exc)) from None
        except Exception as exc:  # a peer must never crash the node; logged with its trace
            log.exception("SHIP %s: unexpected error in the handshake", self.remote_ski)
            await self._fail(Fatal(f"internal error: {exc!r}"))
            raise ShipError(f"internal error: {exc!r}") from None
        self.state = "complete"
        self._reader = asyncio.create_task(self._read_loop(), name=f"ship-read-{self.remote_ski[:8]}")

    async def _fail(self, exc: Fatal) -> None:
        self.close_reason = exc.reason
        log.info(
            "SHIP %s %s (%s): closing in state %s: %s", self.role, self.remote_ski, self.host, self.state, exc.reason
        )
        with contextlib.suppress(Exception):
            if exc.hello_abort:
                await self._send_control({"connectionHello": {"phase": "aborted"}})
                await asyncio.sleep(self.timers.abort_delay)
                exc.code = CLOSE_REJECTED
            elif exc.prot_error is not None and self.state == "protocol":
                await self._send_control({"messageProtocolHandshakeError": {"error": exc.prot_error}})
        reason = "Node rejected by application" if exc.code == CLOSE_REJECTED else exc.reason
        with contextlib.suppress(Exception):
            await self.ws.close(exc.code, reason[:120])
        self._mark_closed()

    async def _cmi(self) -> None:
        if self.role == "client":
            await self.ws.send(CMI)
        kind, _ = await self._next(self.timers.cmi, "connection mode initialisation")
        if kind != MSG_INIT:
            raise Fatal(f"expected connection mode initialisation, got message type {kind}")
        if self.role == "server":
            await self.ws.send(CMI)

    async def _send_hello(self, phase: str, waiting: float | None = None, prolongation: bool = False) -> None:
        body: dict[str, Any] = {"phase": phase}
        if waiting is not None:
            body["waiting"] = max(0, int(waiting * 1000))
        if prolongation:
            body["prolongationRequest"] = True
        await self._send_control({"connectionHello": body})

    async def _hello(self) -> None:
        t = self.timers
        loop = asyncio.get_running_loop()
        start = loop.time()
        local_ready = self._trusted or self.role == "client" or self._approved.is_set()
        remote_ready = False
        if local_ready:
            deadline = start + t.hello_init
            await self._send_hello("ready", t.hello_init)
        else:
            deadline = start + t.pending_max
            await self._send_hello("pending", min(t.hello_init, t.pending_max))
        prolong_at: float | None = None
        prolong_reply_until: float | None = None

        def schedule_prolongation(waiting_ms: int | None) -> None:
            nonlocal prolong_at, prolong_reply_until
            prolong_reply_until = None
            if waiting_ms is None:
                raise Fatal("hello without 'waiting' from a peer we keep pending", hello_abort=True)
            waiting = waiting_ms / 1000
            if waiting < t.hello_prolong_min:
                raise Fatal("peer allows less waiting time than the minimum", hello_abort=True)
            now = loop.time()
            # no request needed when the peer waits longer than we will
            prolong_at = None if now + waiting >= deadline else now + max(0.0, waiting - t.hello_prolong_threshold)

        while not (local_ready and remote_ready):
            timers = [deadline] + [x for x in (prolong_at, prolong_reply_until) if x is not None]
            wake = min(timers)
            waiters: dict[asyncio.Task[Any], str] = {asyncio.ensure_future(self.ws.recv()): "msg"}
            if not local_ready:
                waiters[asyncio.ensure_future(self._approved.wait())] = "approve"
                waiters[asyncio.ensure_future(self._rejected.wait())] = "reject"
            done, pending = await asyncio.wait(
                waiters, timeout=max(0.0, wake - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            kinds = {waiters[task]: task for task in done}
            now = loop.time()
            if "reject" in kinds:
                raise Fatal("refused by the installer", hello_abort=True)
            if "approve" in kinds and not local_ready:
                local_ready = True
                deadline = now + t.hello_init
                prolong_at = prolong_reply_until = None
                await self._send_hello("ready", t.hello_init)
            if "msg" in kinds:
                task = kinds["msg"]
                exc = task.exception()
                if isinstance(exc, WsClosed):
                    if local_ready and not remote_ready:
                        raise Fatal("peer closed during hello: trust denied by the remote", code=CLOSE_REJECTED)
                    raise Fatal(f"peer closed during hello ({exc.code} {exc.reason})")
                if exc is not None:
                    raise exc
                try:
                    kind, message = parse_frame(task.result())
                except ValueError as err:
                    raise Fatal(f"malformed message during hello: {err}") from None
                hello = (message or {}).get("connectionHello") if kind == MSG_CONTROL else None
                if hello is None:
                    raise Fatal(f"unexpected message during hello (type {kind}: {keys_of(message)})", hello_abort=True)
                hello = need_object(hello, "connectionHello")
                phase = hello.get("phase")
                waiting = hello.get("waiting")
                if waiting is not None:
                    waiting = need_int(waiting, "connectionHello.waiting")
                    if waiting < 0:
                        raise Fatal("negative connectionHello.waiting", hello_abort=True)
                prolongation = hello.get("prolongationRequest") is True
                if phase == "aborted":
                    raise Fatal("the peer aborted the hello", code=CLOSE_REJECTED)
                if phase == "ready":
                    remote_ready = True
                    if not local_ready:
                        schedule_prolongation(waiting)
                elif phase == "pending":
                    if prolongation:
                        if local_ready:
                            deadline = now + t.hello_init
                            await self._send_hello("ready", t.hello_init)
                        else:
                            await self._send_hello("pending", min(t.hello_init, max(0.0, deadline - now)))
                    elif not local_ready and waiting is not None:
                        schedule_prolongation(waiting)
                else:
                    raise Fatal(f"unknown hello phase {phase!r}", hello_abort=True)
                continue
            if done:
                continue
            # a timer fired
            if now >= deadline:
                if local_ready:
                    raise Fatal("hello timeout: the peer did not get ready in time", hello_abort=True)
                raise Fatal("not coupled by the installer in time", hello_abort=True)
            if prolong_reply_until is not None and now >= prolong_reply_until:
                raise Fatal("no answer to our prolongation request", hello_abort=True)
            if prolong_at is not None and now >= prolong_at:
                prolong_at = None
                prolong_reply_until = min(deadline, now + 1.1 * t.hello_init)
                await self._send_hello("pending", prolongation=True)

    async def _protocol(self) -> None:
        t = self.timers
        mine = {"major": 1, "minor": 0}
        if self.role == "client":
            await self._send_control(
                {
                    "messageProtocolHandshake": {
                        "handshakeType": "announceMax",
                        "version": mine,
                        "formats": {"format": ["JSON-UTF8"]},
                    }
                }
            )
            hs = await self._protocol_message(t.protocol)
            if hs.get("handshakeType") != "select":
                raise Fatal("protocol handshake: expected 'select'", prot_error=PROT_ERR_UNEXPECTED)
            self._check_selection(hs)
            await self._send_control({"messageProtocolHandshake": {**hs, "handshakeType": "select"}})
            return
        hs = await self._protocol_message(t.protocol)
        if hs.get("handshakeType") != "announceMax":
            raise Fatal("protocol handshake: expected 'announceMax'", prot_error=PROT_ERR_UNEXPECTED)
        version = need_object(hs.get("version"), "messageProtocolHandshake.version")
        major = need_int(version.get("major"), "version.major")
        minor = need_int(version.get("minor", 0), "version.minor")
        formats = formats_of(hs)
        if (major, minor) < (1, 0) or "JSON-UTF8" not in formats:
            raise Fatal(
                f"protocol handshake: no common version/format ({major}.{minor}, {formats})",
                prot_error=PROT_ERR_MISMATCH,
            )
        select = {"handshakeType": "select", "version": mine, "formats": {"format": ["JSON-UTF8"]}}
        await self._send_control({"messageProtocolHandshake": select})
        hs = await self._protocol_message(t.protocol)
        if hs.get("handshakeType") != "select":
            raise Fatal("protocol handshake: expected the confirming 'select'", prot_error=PROT_ERR_UNEXPECTED)
        self._check_selection(hs)

    def _check_selection(self, hs: dict[str, Any]) -> None:
        version = need_object(hs.get("version"), "messageProtocolHandshake.version")
        if (
            need_int(version.get("major"), "version.major") != 1
            or need_int(version.get("minor", 0), "version.minor") != 0
        ):
            raise Fatal("protocol handshake: selected version is not 1.0", prot_error=PROT_ERR_MISMATCH)
        if formats_of(hs) != ["JSON-UTF8"]:
            raise Fatal("protocol handshake: selected format is not exactly JSON-UTF8", prot_error=PROT_ERR_MISMATCH)

    async def _protocol_message(self, wait_s: float) -> dict[str, Any]:
        kind, message = await self._next(wait_s, "the protocol handshake")
        message = message or {}
        if kind == MSG_CONTROL and "messageProtocolHandshakeError" in message:
            raise Fatal(f"peer reported protocol handshake error {message['messageProtocolHandshakeError']}")
        if kind == MSG_CONTROL and "error" in message:  # ship-go sends the error without its root key
            raise Fatal(f"peer reported protocol handshake error {message['error']}")
        if kind != MSG_CONTROL or "messageProtocolHandshake" not in message:
            raise Fatal(
                f"unexpected message in the protocol handshake ({keys_of(message)})", prot_error=PROT_ERR_UNEXPECTED
            )
        return need_object(message["messageProtocolHandshake"], "messageProtocolHandshake")

    async def _pin(self) -> None:
        await self._send_control({"connectionPinState": {"pinState": "none"}})
        kind, message = await self._next(self.timers.pin, "the PIN state")
        state = (message or {}).get("connectionPinState") if kind == MSG_CONTROL else None
        if state is None:
            raise Fatal(f"expected connectionPinState, got {keys_of(message)}")
        pin = need_object(state, "connectionPinState").get("pinState")
        if pin != "none":
            raise Fatal(f"PIN state {pin!r} is not supported (only 'none')")

    async def _access(self) -> None:
        await self._send_control({"accessMethodsRequest": {}})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timers.access
        while True:
            kind, message = await self._next(deadline - loop.time(), "the access methods")
            message = message or {}
            if kind == MSG_DATA:
                self._queue_data(message)  # the peer finished first; keep its SPINE messages
                continue
            if kind != MSG_CONTROL:
                raise Fatal(f"unexpected message type {kind} during access methods")
            if "accessMethodsRequest" in message:
                await self._send_control({"accessMethods": {"id": self.local_ship_id}})
            elif "accessMethods" in message:
                methods = need_object(message["accessMethods"], "accessMethods")
                ship_id = methods.get("id")
                if not isinstance(ship_id, str) or not ship_id.strip():
                    raise Fatal("accessMethods without a SHIP ID")
                if self._known_ship_id and self._known_ship_id != ship_id:
                    raise Fatal(
                        f"SHIP id mismatch: stored {self._known_ship_id!r}, peer says {ship_id!r}",
                        code=CLOSE_SHIP_ID_MISMATCH,
                    )
                self.remote_ship_id = ship_id
                if self.on_ship_id is not None:
                    self.on_ship_id(self.remote_ski, ship_id)
                return
            else:
                raise Fatal(f"unexpected message during access methods ({keys_of(message)})")
