"""TLS and WebSocket transport of SHIP, on asyncio streams.

TLS is done with pyOpenSSL over memory BIOs because SHIP needs what the stdlib ``ssl`` module
cannot do on a server: *request* a client certificate without chain-verifying it (Go's
``RequireAnyClientCert``). Trust is decided later, by the certificate's SKI. TLS 1.2 is the minimum,
with the two SHIP cipher suites for 1.2; TLS 1.3 is allowed (Go peers negotiate it).

The WebSocket layer uses the sans-I/O protocol objects of the ``websockets`` library: the ``ship``
subprotocol is mandatory, only binary messages are accepted, messages are limited in size, and a
ping is sent every ``ping_interval`` seconds; a peer that does not answer within ``pong_timeout``
is dropped (ship-go: ping every 50 s, read deadline 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from .identity import ShipIdentity, ski_from_certificate

log = logging.getLogger(__name__)
_WS_LOG = logging.getLogger("smartgrid.ship.websocket")

SHIP_CIPHERS = b"ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"
SUBPROTOCOL = Subprotocol("ship")
DEFAULT_MAX_MESSAGE = 100 * 1024  # newer ship-go limits incoming messages to 100 KiB
_READ_CHUNK = 65536


class TransportError(ConnectionError):
    """The TLS or WebSocket layer failed; the text says why."""


def _context(identity: ShipIdentity, *, server: bool) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_cipher_list(SHIP_CIPHERS)
    ctx.use_certificate(identity.certificate)
    ctx.use_privatekey(identity.private_key)
    ctx.check_privatekey()

    def accept_any(_conn: SSL.Connection, _cert: crypto.X509, _errno: int, _depth: int, _ok: int) -> bool:
        return True  # SHIP 12.1: self-signed certificates; trust comes from the SKI

    if server:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, accept_any)
    else:
        ctx.set_verify(SSL.VERIFY_PEER, accept_any)  # no chain check; we still see the server's cert
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION)
    return ctx


class TlsStream:
    """A TLS session over an asyncio stream pair (pyOpenSSL memory BIOs)."""

    def __init__(self, ctx: SSL.Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, server: bool):
        self._conn = SSL.Connection(ctx, None)
        if server:
            self._conn.set_accept_state()
        else:
            self._conn.set_connect_state()
        self._reader = reader
        self._writer = writer
        self._closed = False

    @property
    def peername(self) -> tuple[str, int]:
        peer = self._writer.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return "", 0

    async def _flush(self) -> None:
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(_READ_CHUNK)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if chunks and not self._writer.is_closing():
            self._writer.write(b"".join(chunks))
            await self._writer.drain()

    async def _feed(self) -> bool:
        data = await self._reader.read(_READ_CHUNK)
        if not data:
            return False
        self._conn.bio_write(data)
        return True

    async def handshake(self) -> None:
        try:
            while True:
                try:
                    self._conn.do_handshake()
                    await self._flush()
                    return
                except SSL.WantReadError:
                    await self._flush()
                    if not await self._feed():
                        raise TransportError("peer closed during the TLS handshake") from None
        except SSL.Error as exc:
            raise TransportError(f"TLS handshake failed: {exc}") from exc

    def peer_certificate(self) -> x509.Certificate | None:
        cert = self._conn.get_peer_certificate(as_cryptography=True)
        return cert

    def peer_ski(self) -> str:
        cert = self.peer_certificate()
        if cert is None:
            raise TransportError("peer sent no certificate")
        try:
            return ski_from_certificate(cert)
        except ValueError as exc:
            raise TransportError(f"peer certificate unusable: {exc}") from exc

    @property
    def tls_version(self) -> str:
        return str(self._conn.get_protocol_version_name())

    async def read(self) -> bytes:
        """Next decrypted bytes; b"" at the end of the stream."""
        while True:
            try:
                return bytes(self._conn.recv(_READ_CHUNK))
            except SSL.WantReadError:
                await self._flush()
                try:
                    if not await self._feed():
                        return b""
                except (ConnectionError, OSError):
                    return b""
            except SSL.ZeroReturnError:
                return b""
            except SSL.SysCallError:
                return b""
            except SSL.Error as exc:
                raise TransportError(f"TLS error: {exc}") from exc

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportError("TLS stream closed")
        view = memoryview(data)
        try:
            while view:
                sent = self._conn.send(view[:16384])
                view = view[sent:]
        except SSL.Error as exc:
            raise TransportError(f"TLS error: {exc}") from exc
        await self._flush()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._conn.shutdown()
            await asyncio.wait_for(self._flush(), 1.0)
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


async def open_tls(
    identity: ShipIdentity,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    server: bool,
    handshake_timeout: float,
) -> TlsStream:
    stream = TlsStream(_context(identity, server=server), reader, writer, server=server)
    try:
        await asyncio.wait_for(stream.handshake(), handshake_timeout)
    except TimeoutError:
        await stream.close()
        raise TransportError("TLS handshake timed out") from None
    except BaseException:
        await stream.close()
        raise
    return stream


class WsClosed(ConnectionError):
    """The WebSocket is closed; ``code``/``reason`` are the close frame's, if any."""

    def __init__(self, code: int | None = None, reason: str = ""):
        super().__init__(f"websocket closed ({code}: {reason})" if code else "websocket closed")
        self.code = code
        self.reason = reason


class WsConnection:
    """A SHIP WebSocket: binary messages only, size-limited, with keepalive pings."""

    def __init__(
        self,
        tls: TlsStream,
        protocol: ServerProtocol | ClientProtocol,
        *,
        max_message: int,
        ping_interval: float | None,
        pong_timeout: float,
    ):
        self.tls = tls
        self._proto = protocol
        self._max_message = max_message
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._messages: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._fragments: list[bytes] | None = None
        self._pong = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.error = ""

    # -- handshakes -------------------------------------------------------------------------
    @classmethod
    async def accept(
        cls,
        tls: TlsStream,
        *,
        max_message: int,
        ping_interval: float | None,
        pong_timeout: float,
        handshake_timeout: float,
    ) -> WsConnection:
        proto = ServerProtocol(subprotocols=[SUBPROTOCOL], max_size=max_message, logger=_WS_LOG)
        ws = cls(tls, proto, max_message=max_message, ping_interval=ping_interval, pong_timeout=pong_timeout)

        async def handshake() -> list[Any]:
            while True:
                data = await tls.read()
                if not data:
                    raise TransportError("peer closed before the WebSocket handshake")
                proto.receive_data(data)
                events = proto.events_received()
                if events:
                    return events

        events = await asyncio.wait_for(handshake(), handshake_timeout)
        request = events[0]
        if not isinstance(request, Request):
            raise TransportError("no WebSocket upgrade request")
        response = proto.accept(request)
        proto.send_response(response)
        await ws._send_pending()
        if response.status_code != 101 or proto.state is not State.OPEN:
            reason = proto.handshake_exc or f"HTTP {response.status_code}"
            raise TransportError(f"WebSocket handshake refused: {reason}")
        if proto.subprotocol != SUBPROTOCOL:
            raise TransportError("WebSocket subprotocol 'ship' not negotiated")
        ws._start(events[1:])
        return ws

    @classmethod
    async def connect(
        cls,
        tls: TlsStream,
        uri: str,
        *,
        max_message: int,
        ping_interval: float | None,
        pong_timeout: float,
        handshake_timeout: float,
    ) -> WsConnection:
        proto = ClientProtocol(parse_uri(uri), subprotocols=[SUBPROTOCOL], max_size=max_message, logger=_WS_LOG)
        ws = cls(tls, proto, max_message=max_message, ping_interval=ping_interval, pong_timeout=pong_timeout)
        proto.send_request(proto.connect())
        await ws._send_pending()

        async def handshake() -> list[Any]:
            while True:
                data = await tls.read()
                if not data:
                    raise TransportError("peer closed during the WebSocket handshake")
                proto.receive_data(data)
                events = proto.events_received()
                if events:
                    return events

        events = await asyncio.wait_for(handshake(), handshake_timeout)
        if not isinstance(events[0], Response) or proto.state is not State.OPEN:
            raise TransportError(f"WebSocket handshake failed: {proto.handshake_exc}")
        if proto.subprotocol != SUBPROTOCOL:
            raise TransportError("server did not select the WebSocket subprotocol 'ship'")
        ws._start(events[1:])
        return ws

    # -- running ------------------------------------------------------------------------------
    def _start(self, early_events: list[Any]) -> None:
        for event in early_events:
            self._on_event(event)
        self._tasks.append(asyncio.create_task(self._read_loop(), name="ship-ws-read"))
        if self._ping_interval:
            self._tasks.append(asyncio.create_task(self._ping_loop(), name="ship-ws-ping"))

    async def _send_pending(self) -> None:
        eof = False
        out = []
        for chunk in self._proto.data_to_send():
            if chunk:
                out.append(chunk)
            else:
                eof = True
        if out:
            await self.tls.write(b"".join(out))
        if eof:
            await self.tls.close()

    def _fail(self, code: int, reason: str) -> None:
        if not self.error:
            self.error = reason
        if self._proto.state is State.OPEN:
            self._proto.fail(code, reason)

    def _on_event(self, event: Any) -> None:
        if not isinstance(event, Frame):
            return
        if event.opcode is Opcode.PONG:
            self._pong.set()
        elif event.opcode is Opcode.TEXT:
            self._fail(1003, "text frames are not allowed in SHIP")
        elif event.opcode is Opcode.BINARY:
            if event.fin:
                self._messages.put_nowait(bytes(event.data))
            else:
                self._fragments = [bytes(event.data)]
        elif event.opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(event.data))
            if event.fin:
                self._messages.put_nowait(b"".join(self._fragments))
                self._fragments = None

    async def _read_loop(self) -> None:
        try:
            while self._proto.state is not State.CLOSED:
                data = await self.tls.read()
                if not data:
                    self._proto.receive_eof()
                else:
                    self._proto.receive_data(data)
                for event in self._proto.events_received():
                    self._on_event(event)
                await self._send_pending()
                if not data:
                    break
                if self._proto.state is State.CLOSED:
                    break
        except (TransportError, ProtocolError, InvalidHandshake, ConnectionError, OSError) as exc:
            if not self.error:
                self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - never let hostile bytes escape as an unhandled task error
            log.warning("SHIP websocket: unexpected error, dropping the connection: %r", exc)
            self.error = f"internal error: {exc!r}"
        finally:
            rcvd = self._proto.close_rcvd
            sent = self._proto.close_sent
            if rcvd is not None:
                self.close_code, self.close_reason = rcvd.code, rcvd.reason
            elif sent is not None:
                self.close_code, self.close_reason = sent.code, sent.reason
            if isinstance(self._proto.parser_exc, Exception) and not self.error:
                self.error = str(self._proto.parser_exc)
            await self.tls.close()
            self._messages.put_nowait(None)
            self.closed.set()
            for task in self._tasks:
                if task is not asyncio.current_task():
                    task.cancel()

    async def _ping_loop(self) -> None:
        assert self._ping_interval
        while True:
            await asyncio.sleep(self._ping_interval)
            self._pong.clear()
            try:
                self._proto.send_ping(b"ship")
                await self._send_pending()
                await asyncio.wait_for(self._pong.wait(), self._pong_timeout)
            except TimeoutError:
                self.error = "no pong within the keepalive timeout"
                await self.abort()
                return
            except (TransportError, ConnectionError, OSError, InvalidHandshake):
                return

    async def recv(self) -> bytes:
        """Next binary message; raises WsClosed once the socket is closed."""
        if self.closed.is_set() and self._messages.empty():
            raise WsClosed(self.close_code, self.close_reason)
        message = await self._messages.get()
        if message is None:
            self._messages.put_nowait(None)
            raise WsClosed(self.close_code, self.close_reason)
        return message

    async def send(self, data: bytes) -> None:
        if self._proto.state is not State.OPEN:
            raise WsClosed(self.close_code, self.close_reason)
        self._proto.send_binary(data)
        await self._send_pending()

    async def close(self, code: int = 1000, reason: str = "", grace: float = 1.0) -> None:
        """Close handshake, then the TCP connection (after ``timeout`` at the latest)."""
        if self._proto.state is State.OPEN:
            with contextlib.suppress(Exception):
                self._proto.send_close(code, reason[:120])
                await self._send_pending()
        try:
            await asyncio.wait_for(self.closed.wait(), grace)
        except TimeoutError:
            await self.abort()

    async def abort(self) -> None:
        """Drop the connection without a close handshake."""
        await self.tls.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._messages.put_nowait(None)
        self.closed.set()
