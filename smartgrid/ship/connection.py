"""One SHIP connection: the handshake state machine (SHIP 1.0.1 ch. 13.4) and the data phase.

Phases, as ship-go runs them: CMI (``00 00`` both ways), hello (ready / pending with ``waiting``,
prolongation, abort), protocol handshake (announceMax -> select -> select, JSON-UTF8, version 1.0),
PIN state (``none`` only), access methods (SHIP ID; a changed SHIP ID of a known SKI is refused),
then data (type 0x02, SPINE in ``payload``) until a close (announce/confirm, WebSocket code 4001).
Every wait has a timer (``ShipTimers``), so a silent peer only ever costs its own connection; any
malformed or out-of-order message closes the connection with a logged reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .eebus_json import EebusJsonError, decode_message, encode_data, encode_message
from .transport import TransportError, WsClosed, WsConnection

log = logging.getLogger(__name__)

MSG_INIT, MSG_CONTROL, MSG_DATA, MSG_END = 0, 1, 2, 3
CMI = b"\x00\x00"
PROTOCOL_ID = "ee1.0"
CLOSE_NORMAL = 4001
CLOSE_SHIP_ID_MISMATCH = 4450
CLOSE_REJECTED = 4452
# messageProtocolHandshakeError numbers
PROT_ERR_TIMEOUT, PROT_ERR_UNEXPECTED, PROT_ERR_MISMATCH = 1, 2, 3

Role = Literal["server", "client"]


@dataclass(frozen=True)
class ShipTimers:
    """All SHIP timers in seconds (defaults as ship-go); tests pass shorter ones."""

    cmi: float = 10.0
    hello_init: float = 60.0  # T_hello_init = T_hello_inc: what we announce as ``waiting``
    hello_prolong_threshold: float = 30.0  # ask for prolongation this long before the peer gives up
    hello_prolong_min: float = 1.0  # a peer waiting less than this is given up on
    pending_max: float = 120.0  # how long an unknown SKI is kept pending for the installer
    protocol: float = 10.0
    pin: float = 10.0
    access: float = 10.0
    abort_delay: float = 1.0  # between hello "aborted" and closing with 4452
    close_max: float = 0.5  # maxTime of a close announcement
    tls_handshake: float = 10.0
    ws_handshake: float = 10.0
    ping_interval: float = 50.0
    pong_timeout: float = 10.0
    max_message: int = 100 * 1024


class ShipError(ConnectionError):
    """The SHIP handshake or connection failed; the text is the logged reason."""


class ShipRejected(ShipError):
    """The peer (or we) refused trust during hello (close code 4452)."""


class ConnectionClosed(ConnectionError):
    """The SHIP connection is gone (raised by ``recv``/``send``)."""


class _Fatal(Exception):
    def __init__(self, reason: str, code: int = CLOSE_NORMAL, hello_abort: bool = False, prot_error: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.hello_abort = hello_abort
        self.prot_error = prot_error


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Fatal(f"{what} is not an object")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Fatal(f"{what} is not an integer")
    return value


def parse_frame(raw: bytes) -> tuple[int, dict[str, Any] | None]:
    """Split a SHIP WebSocket message into its type byte and decoded body; ValueError if malformed."""
    if len(raw) < 2:
        raise ValueError(f"SHIP message of {len(raw)} byte(s), at least 2 are needed")
    kind = raw[0]
    if kind == MSG_INIT:
        if raw != CMI:
            raise ValueError("connection mode initialisation must be exactly 00 00")
        return kind, None
    if kind not in (MSG_CONTROL, MSG_DATA, MSG_END):
        raise ValueError(f"unknown SHIP message type 0x{kind:02x}")
    try:
        return kind, decode_message(raw[1:])
    except EebusJsonError as exc:
        raise ValueError(str(exc)) from exc


class ShipConnection:
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
        self.ws = ws
        self.role: Role = role
        self.local_ship_id = local_ship_id
        self.remote_ski = remote_ski
        self.remote_ship_id: str | None = None
        self.host = host
        self.port = port
        self.timers = timers
        self.state = "cmi"
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.connected_at = time.time()
        self._trusted = trusted
        self._known_ship_id = known_ship_id
        self._approved = asyncio.Event()
        self._rejected = asyncio.Event()
        self._data: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._close_confirmed = asyncio.Event()
        self._closing = False
        self.on_ship_id: Callable[[str, str], None] | None = None  # (ski, ship_id) once access methods passed

    def __repr__(self) -> str:
        return f"<ShipConnection {self.role} ski={self.remote_ski} state={self.state}>"

    @property
    def complete(self) -> bool:
        return self.state == "complete"

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

    # -- I/O helpers --------------------------------------------------------------------------
    async def _send_control(self, message: dict[str, Any], kind: int = MSG_CONTROL) -> None:
        await self.ws.send(bytes([kind]) + encode_message(message))

    async def _next(self, wait_s: float, what: str) -> tuple[int, dict[str, Any] | None]:
        try:
            raw = await asyncio.wait_for(self.ws.recv(), max(wait_s, 0.0))
        except TimeoutError:
            raise _Fatal(f"timeout waiting for {what}", prot_error=PROT_ERR_TIMEOUT) from None
        except WsClosed as exc:
            raise _Fatal(f"peer closed the connection while waiting for {what} ({exc.code} {exc.reason})") from None
        try:
            return parse_frame(raw)
        except ValueError as exc:
            raise _Fatal(f"malformed message while waiting for {what}: {exc}") from None

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
        except _Fatal as exc:
            await self._fail(exc)
            if exc.hello_abort or exc.code == CLOSE_REJECTED:
                raise ShipRejected(exc.reason) from None
            raise ShipError(exc.reason) from None
        except (TransportError, WsClosed) as exc:
            await self._fail(_Fatal(f"transport failed during the handshake: {exc}"))
            raise ShipError(str(exc)) from None
        except Exception as exc:  # a peer must never crash the node; logged with its trace
            log.exception("SHIP %s: unexpected error in the handshake", self.remote_ski)
            await self._fail(_Fatal(f"internal error: {exc!r}"))
            raise ShipError(f"internal error: {exc!r}") from None
        self.state = "complete"
        self._reader = asyncio.create_task(self._read_loop(), name=f"ship-read-{self.remote_ski[:8]}")

    async def _fail(self, exc: _Fatal) -> None:
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

    def _mark_closed(self) -> None:
        self.state = "closed"
        self._data.put_nowait(None)
        self.closed.set()

    async def _cmi(self) -> None:
        if self.role == "client":
            await self.ws.send(CMI)
        kind, _ = await self._next(self.timers.cmi, "connection mode initialisation")
        if kind != MSG_INIT:
            raise _Fatal(f"expected connection mode initialisation, got message type {kind}")
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
                raise _Fatal("hello without 'waiting' from a peer we keep pending", hello_abort=True)
            waiting = waiting_ms / 1000
            if waiting < t.hello_prolong_min:
                raise _Fatal("peer allows less waiting time than the minimum", hello_abort=True)
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
                raise _Fatal("refused by the installer", hello_abort=True)
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
                        raise _Fatal("peer closed during hello: trust denied by the remote", code=CLOSE_REJECTED)
                    raise _Fatal(f"peer closed during hello ({exc.code} {exc.reason})")
                if exc is not None:
                    raise exc
                try:
                    kind, message = parse_frame(task.result())
                except ValueError as err:
                    raise _Fatal(f"malformed message during hello: {err}") from None
                hello = (message or {}).get("connectionHello") if kind == MSG_CONTROL else None
                if hello is None:
                    raise _Fatal(f"unexpected message during hello (type {kind}: {_keys(message)})", hello_abort=True)
                hello = _obj(hello, "connectionHello")
                phase = hello.get("phase")
                waiting = hello.get("waiting")
                if waiting is not None:
                    waiting = _int(waiting, "connectionHello.waiting")
                    if waiting < 0:
                        raise _Fatal("negative connectionHello.waiting", hello_abort=True)
                prolongation = hello.get("prolongationRequest") is True
                if phase == "aborted":
                    raise _Fatal("the peer aborted the hello", code=CLOSE_REJECTED)
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
                    raise _Fatal(f"unknown hello phase {phase!r}", hello_abort=True)
                continue
            if done:
                continue
            # a timer fired
            if now >= deadline:
                if local_ready:
                    raise _Fatal("hello timeout: the peer did not get ready in time", hello_abort=True)
                raise _Fatal("not coupled by the installer in time", hello_abort=True)
            if prolong_reply_until is not None and now >= prolong_reply_until:
                raise _Fatal("no answer to our prolongation request", hello_abort=True)
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
                raise _Fatal("protocol handshake: expected 'select'", prot_error=PROT_ERR_UNEXPECTED)
            self._check_selection(hs)
            await self._send_control({"messageProtocolHandshake": {**hs, "handshakeType": "select"}})
            return
        hs = await self._protocol_message(t.protocol)
        if hs.get("handshakeType") != "announceMax":
            raise _Fatal("protocol handshake: expected 'announceMax'", prot_error=PROT_ERR_UNEXPECTED)
        version = _obj(hs.get("version"), "messageProtocolHandshake.version")
        major = _int(version.get("major"), "version.major")
        minor = _int(version.get("minor", 0), "version.minor")
        formats = _formats(hs)
        if (major, minor) < (1, 0) or "JSON-UTF8" not in formats:
            raise _Fatal(
                f"protocol handshake: no common version/format ({major}.{minor}, {formats})",
                prot_error=PROT_ERR_MISMATCH,
            )
        select = {"handshakeType": "select", "version": mine, "formats": {"format": ["JSON-UTF8"]}}
        await self._send_control({"messageProtocolHandshake": select})
        hs = await self._protocol_message(t.protocol)
        if hs.get("handshakeType") != "select":
            raise _Fatal("protocol handshake: expected the confirming 'select'", prot_error=PROT_ERR_UNEXPECTED)
        self._check_selection(hs)

    def _check_selection(self, hs: dict[str, Any]) -> None:
        version = _obj(hs.get("version"), "messageProtocolHandshake.version")
        if _int(version.get("major"), "version.major") != 1 or _int(version.get("minor", 0), "version.minor") != 0:
            raise _Fatal("protocol handshake: selected version is not 1.0", prot_error=PROT_ERR_MISMATCH)
        if _formats(hs) != ["JSON-UTF8"]:
            raise _Fatal("protocol handshake: selected format is not exactly JSON-UTF8", prot_error=PROT_ERR_MISMATCH)

    async def _protocol_message(self, wait_s: float) -> dict[str, Any]:
        kind, message = await self._next(wait_s, "the protocol handshake")
        message = message or {}
        if kind == MSG_CONTROL and "messageProtocolHandshakeError" in message:
            raise _Fatal(f"peer reported protocol handshake error {message['messageProtocolHandshakeError']}")
        if kind == MSG_CONTROL and "error" in message:  # ship-go sends the error without its root key
            raise _Fatal(f"peer reported protocol handshake error {message['error']}")
        if kind != MSG_CONTROL or "messageProtocolHandshake" not in message:
            raise _Fatal(
                f"unexpected message in the protocol handshake ({_keys(message)})", prot_error=PROT_ERR_UNEXPECTED
            )
        return _obj(message["messageProtocolHandshake"], "messageProtocolHandshake")

    async def _pin(self) -> None:
        await self._send_control({"connectionPinState": {"pinState": "none"}})
        kind, message = await self._next(self.timers.pin, "the PIN state")
        state = (message or {}).get("connectionPinState") if kind == MSG_CONTROL else None
        if state is None:
            raise _Fatal(f"expected connectionPinState, got {_keys(message)}")
        pin = _obj(state, "connectionPinState").get("pinState")
        if pin != "none":
            raise _Fatal(f"PIN state {pin!r} is not supported (only 'none')")

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
                raise _Fatal(f"unexpected message type {kind} during access methods")
            if "accessMethodsRequest" in message:
                await self._send_control({"accessMethods": {"id": self.local_ship_id}})
            elif "accessMethods" in message:
                methods = _obj(message["accessMethods"], "accessMethods")
                ship_id = methods.get("id")
                if not isinstance(ship_id, str) or not ship_id.strip():
                    raise _Fatal("accessMethods without a SHIP ID")
                if self._known_ship_id and self._known_ship_id != ship_id:
                    raise _Fatal(
                        f"SHIP id mismatch: stored {self._known_ship_id!r}, peer says {ship_id!r}",
                        code=CLOSE_SHIP_ID_MISMATCH,
                    )
                self.remote_ship_id = ship_id
                if self.on_ship_id is not None:
                    self.on_ship_id(self.remote_ski, ship_id)
                return
            else:
                raise _Fatal(f"unexpected message during access methods ({_keys(message)})")

    # -- data phase ---------------------------------------------------------------------------
    def _queue_data(self, message: dict[str, Any]) -> None:
        data = _obj(message.get("data"), "data")
        header = data.get("header")
        if isinstance(header, dict) and header.get("protocolId", PROTOCOL_ID) != PROTOCOL_ID:
            raise _Fatal(f"unsupported data protocolId {header.get('protocolId')!r}")
        payload = _obj(data.get("payload"), "data.payload")
        self._data.put_nowait(payload)

    async def _read_loop(self) -> None:
        reason = "peer closed the connection"
        try:
            while True:
                raw = await self.ws.recv()
                try:
                    kind, message = parse_frame(raw)
                except ValueError as exc:
                    raise _Fatal(f"malformed message: {exc}") from None
                message = message or {}
                if kind == MSG_DATA:
                    self._queue_data(message)
                elif kind == MSG_CONTROL:
                    if "accessMethodsRequest" in message:
                        await self._send_control({"accessMethods": {"id": self.local_ship_id}})
                    elif "accessMethods" in message:
                        pass  # a late answer to our request
                    else:
                        raise _Fatal(f"unexpected control message after the handshake ({_keys(message)})")
                elif kind == MSG_END:
                    close = _obj(message.get("connectionClose"), "connectionClose")
                    phase = close.get("phase")
                    if phase == "announce":
                        await self._send_control({"connectionClose": {"phase": "confirm"}}, MSG_END)
                        reason = f"peer closed ({close.get('reason', 'unspecific')})"
                        await self.ws.close(CLOSE_NORMAL, "close")
                        break
                    if phase == "confirm":
                        self._close_confirmed.set()
                        if not self._closing:
                            await self.ws.close(CLOSE_NORMAL, "close")
                            break
                    else:
                        raise _Fatal(f"unknown connectionClose phase {phase!r}")
                else:
                    raise _Fatal("connection mode initialisation after the handshake")
        except WsClosed as exc:
            reason = self.ws.error or f"peer closed the connection ({exc.code} {exc.reason})"
        except _Fatal as exc:
            reason = exc.reason
            log.info("SHIP %s (%s): closing: %s", self.remote_ski, self.host, reason)
            with contextlib.suppress(Exception):
                await self.ws.close(exc.code, reason[:120])
        except (TransportError, ConnectionError, OSError) as exc:
            reason = f"transport error: {exc}"
        except Exception as exc:  # a peer must never crash the node; logged with its trace
            log.exception("SHIP %s: unexpected error, closing", self.remote_ski)
            reason = f"internal error: {exc!r}"
            with contextlib.suppress(Exception):
                await self.ws.close(CLOSE_NORMAL, "internal error")
        finally:
            if not self.close_reason:
                self.close_reason = reason
            self._mark_closed()

    async def send(self, spine: dict[str, Any]) -> None:
        """Send one SPINE object (plain JSON, e.g. ``{"datagram": {...}}``)."""
        if self.state != "complete":
            raise ConnectionClosed(f"SHIP connection not open ({self.state})")
        if not isinstance(spine, dict):
            raise TypeError("a SPINE message is a JSON object")
        try:
            await self.ws.send(bytes([MSG_DATA]) + encode_data(spine, PROTOCOL_ID))
        except (WsClosed, TransportError, ConnectionError, OSError) as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def recv(self) -> dict[str, Any]:
        """The next SPINE object received; ConnectionClosed once the connection is gone."""
        if self.closed.is_set() and self._data.empty():
            raise ConnectionClosed(self.close_reason)
        item = await self._data.get()
        if item is None:
            self._data.put_nowait(None)
            raise ConnectionClosed(self.close_reason)
        return item

    async def close(self, reason: str = "unspecific") -> None:
        """Close announcement (if the handshake completed), then WebSocket close 4001."""
        if self.closed.is_set():
            return
        self._closing = True
        if not self.close_reason:
            self.close_reason = f"closed locally: {reason}"
        if self.state == "complete":
            wire_reason = "removedConnection" if reason == "removedConnection" else "unspecific"
            with contextlib.suppress(Exception):
                await self._send_control(
                    {
                        "connectionClose": {
                            "phase": "announce",
                            "maxTime": int(self.timers.close_max * 1000),
                            "reason": wire_reason,
                        }
                    },
                    MSG_END,
                )
                await asyncio.wait_for(self._close_confirmed.wait(), self.timers.close_max)
        with contextlib.suppress(Exception):
            await self.ws.close(CLOSE_NORMAL, reason[:120])
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
        self._mark_closed()

    async def abort(self, code: int, reason: str) -> None:
        """Close without the SHIP close handshake (double connection, decoupled while pending...)."""
        if not self.close_reason:
            self.close_reason = reason
        self._closing = True
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason[:120])
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
        self._mark_closed()


def _formats(hs: dict[str, Any]) -> list[str]:
    formats = hs.get("formats")
    if formats is None:
        return []
    fmt = _obj(formats, "formats").get("format")
    if isinstance(fmt, str):
        return [fmt]
    if not isinstance(fmt, list) or not all(isinstance(x, str) for x in fmt):
        raise _Fatal("formats.format is not a list of strings", prot_error=PROT_ERR_MISMATCH)
    return list(fmt)


def _keys(message: dict[str, Any] | None) -> str:
    if not message:
        return "nothing"
    return json.dumps(sorted(message))[:80]
