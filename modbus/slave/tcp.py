"""Modbus TCP and Modbus TCP over TLS (MB-2) on asyncio: MBAP framing around :class:`SlaveCore`.

Requests are answered in order, also when several arrive in one segment (pipelined). A frame
whose MBAP header is impossible (protocol id not 0, length outside 2-254; checked as soon as
the first six bytes are in, so a length of 0 or 1 closes at once) ends the connection, since the
stream cannot be re-synchronised; everything else is answered, an unknown unit id with
exception 0x0B (gateway: no response from the target), as a KSEM behind a gateway would.

Nobody can hold the port (:class:`ConnectionLimits`): every connection counts from the moment
it is accepted (on TLS before its handshake, which this module runs itself with
``loop.start_tls``, so a client that never says hello holds a slot as briefly as one that never
finishes a request). A connection is closed when it has been idle longer than the idle timeout,
when a request (or the TLS handshake) is still incomplete after the request timeout, or when it
does not read its answers. One client address holds at most ``max_per_address`` connections;
the port at most ``max_connections``. When either is full, a new connection drops the one that
matters least to make room: first the oldest of those that never completed a request, then the
one idle longest. A master that polls keeps its connection; a flood of silent connections only
displaces itself.

On TLS each connection carries the SHA-256 fingerprint of its client certificate: requests are
served only while that certificate is accepted, and withdrawing acceptance closes its
connections at once (:meth:`TcpListener.apply_trust`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from modbus import tls
from modbus.slave.core import PLAIN, ExceptionCode, Peer, SlaveCore, exception

log = logging.getLogger(__name__)

HEAD = struct.Struct(">HHH")
MBAP = struct.Struct(">HHHB")
MAX_ADU = 260
MAX_PENDING_OUTPUT = 64 * 1024  # answers a client has not read; more closes the connection
STATS_EVERY_S = 60.0

ACCEPTED = "accepted"
PENDING = "pending"
_TRUSTED_PEER = Peer(may_write=True, authorized=True)
_UNTRUSTED_PEER = Peer(may_write=False, authorized=False)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many connections a port holds and how long a silent one may stay."""

    max_connections: int = 64
    max_per_address: int = 16
    idle_timeout_s: float = 60.0
    request_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_connections < 2:
            raise ValueError("max_connections must be at least 2")
        if not 1 <= self.max_per_address < self.max_connections:
            raise ValueError(f"max_per_address must be between 1 and max_connections - 1 ({self.max_connections - 1})")
        if not 0 < self.request_timeout_s <= 3600:
            raise ValueError("request_timeout_s must be above 0 and at most 3600")
        if not 0 < self.idle_timeout_s <= 86400:
            raise ValueError("idle_timeout_s must be above 0 and at most 86400")

    @property
    def sweep_every_s(self) -> float:
        return min(max(min(self.idle_timeout_s, self.request_timeout_s) / 5, 0.02), 1.0)


class ModbusTcpProtocol(asyncio.Protocol):
    """One client connection (plain, or TLS once its handshake is done)."""

    def __init__(self, listener: TcpListener) -> None:
        self._listener = listener
        self._core = listener.core
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None  # what requests are answered on
        self._raw: asyncio.Transport | None = None  # the TCP socket
        self._handshake: asyncio.Task[None] | None = None
        self.ready = False  # False while a TLS handshake runs
        self.lost = False
        self.address = ""
        self.fingerprint = ""
        self.peer = PLAIN
        now = time.monotonic()
        self.opened = now
        self.last_active = now  # the last complete request (or the connect)
        self.partial_since: float | None = None  # first byte of an incomplete request
        self.served = 0

    # --- life cycle ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        peername = transport.get_extra_info("peername")
        self.address = str(peername[0]) if peername else ""
        listener = self._listener
        if not listener.admit(self):
            transport.abort()
            return
        if listener.ssl_context is None:
            self._transport = transport
            self.ready = True
        else:
            # Nothing is read until start_tls owns the socket (the ClientHello stays in the kernel).
            transport.pause_reading()
            self.partial_since = self.opened  # the handshake counts as an incomplete request
            self._handshake = asyncio.get_running_loop().create_task(self._start_tls(transport, listener.ssl_context))

    async def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        listener = self._listener
        try:
            if raw.is_closing():
                return
            transport = await asyncio.get_running_loop().start_tls(
                raw,
                self,
                context,
                server_side=True,
                # The sweep closes it after the request timeout; this is only a backstop.
                ssl_handshake_timeout=listener.limits.request_timeout_s + 1.0,
            )
        except (OSError, RuntimeError, ValueError) as exc:  # failed, timed out, or the socket was closed
            log.debug("Modbus TLS handshake with %s failed: %r", self.address, exc)
            raw.abort()
            listener.forget(self)
            return
        except BaseException:
            raw.abort()
            listener.forget(self)
            raise
        finally:
            self._handshake = None
        if self.lost or transport is None:
            listener.forget(self)
            return
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.fingerprint = tls.fingerprint(der) if der else ""
        self.peer = listener.peer_for(self.fingerprint)
        self.ready = True
        self.last_active = time.monotonic()
        self.partial_since = None
        if self._buffer:  # requests that came with the end of the handshake
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._listener.forget(self)

    def close(self) -> None:
        """Drop the connection at once (also during a TLS handshake)."""
        if self._handshake is not None:
            self._handshake.cancel()
        for transport in (self._transport, self._raw):
            if transport is not None:
                transport.abort()
        self._listener.forget(self)

    def refresh_peer(self) -> None:
        if self.fingerprint:
            self.peer = self._listener.peer_for(self.fingerprint)

    def rank(self) -> tuple[bool, float]:
        """Lowest goes first when room is needed: never served, then idle longest."""
        return (self.served > 0, self.last_active)

    # --- requests --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.ready:
            self._process()
        elif self.partial_since is None:
            self.partial_since = time.monotonic()

    def _process(self) -> None:
        buffer = self._buffer
        out = []
        core = self._core
        while len(buffer) >= 6:
            transaction, protocol, length = HEAD.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= 254:
                log.debug("Modbus TCP %s: impossible MBAP header, connection closed", self.address)
                self.close()
                return
            end = 6 + length
            if len(buffer) < end:
                break
            unit = buffer[6]
            pdu = bytes(buffer[7:end])
            del buffer[:end]
            if core.serves(unit):
                response = core.handle(pdu, self.peer)
            else:
                response = exception(pdu[0], ExceptionCode.GATEWAY_NO_RESPONSE)
            out.append(MBAP.pack(transaction, 0, len(response) + 1, unit) + response)
        now = time.monotonic()
        if out:
            self.served += len(out)
            self.last_active = now
            transport = self._transport
            if transport is not None:
                transport.write(out[0] if len(out) == 1 else b"".join(out))
                if transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
                    log.debug("Modbus TCP %s does not read its answers, connection closed", self.address)
                    self._listener.count("unread")
                    self.close()
                    return
        if not buffer:
            self.partial_since = None
        elif out or self.partial_since is None:
            self.partial_since = now


class TcpListener:
    """One listening socket (plain or TLS) and the connections it holds."""

    def __init__(
        self,
        core: SlaveCore,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.core = core
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.limits = limits or ConnectionLimits()
        self.trust: dict[str, str] = {}  # fingerprint -> status, for TLS
        self.connections: set[ModbusTcpProtocol] = set()
        self.by_address: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # why connections were closed by the limits
        self._reported: Counter[str] = Counter()
        self._reported_at = time.monotonic()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def kind(self) -> str:
        return "TLS" if self.ssl_context is not None else "TCP"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        factory: Callable[[], ModbusTcpProtocol] = lambda: ModbusTcpProtocol(self)  # noqa: E731
        # TLS is started per connection (ModbusTcpProtocol._start_tls), after the limits admitted it.
        self._server = await loop.create_server(factory, self.host, self.requested_port, reuse_address=True)
        self._sweeper = loop.create_task(self._sweep())

    async def stop(self) -> None:
        server, self._server = self._server, None
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.close()
        if server is not None:
            # Bounded: from Python 3.12 on this waits for every connection to be gone.
            await asyncio.wait([asyncio.ensure_future(server.wait_closed())], timeout=1.0)

    # --- the limits ------------------------------------------------------------------------
    def admit(self, connection: ModbusTcpProtocol) -> bool:
        limits = self.limits
        address = connection.address
        if self.by_address[address] >= limits.max_per_address:
            self._make_room([c for c in self.connections if c.address == address], "per-address")
        if len(self.connections) >= limits.max_connections:
            self._make_room(list(self.connections), "full")
        if len(self.connections) >= limits.max_connections or self.by_address[address] >= limits.max_per_address:
            self.count("refused")  # nothing could be dropped (cannot happen with consistent counts)
            return False
        self.connections.add(connection)
        self.by_address[address] += 1
        return True

    def _make_room(self, candidates: list[ModbusTcpProtocol], why: str) -> None:
        if candidates:
            victim = min(candidates, key=ModbusTcpProtocol.rank)
            log.debug("Modbus %s %s: dropped to make room (%s)", self.kind, victim.address, why)
            self.count(why)
            victim.close()

    def forget(self, connection: ModbusTcpProtocol) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.by_address[connection.address] -= 1
            if self.by_address[connection.address] <= 0:
                del self.by_address[connection.address]

    def count(self, why: str) -> None:
        self.dropped[why] += 1

    async def _sweep(self) -> None:
        limits = self.limits
        while True:
            await asyncio.sleep(limits.sweep_every_s)
            now = time.monotonic()
            for connection in list(self.connections):
                if connection.partial_since is not None:
                    if now - connection.partial_since > limits.request_timeout_s:
                        self.count("incomplete")
                        connection.close()
                elif now - connection.last_active > limits.idle_timeout_s:
                    self.count("idle")
                    connection.close()
            if now - self._reported_at >= STATS_EVERY_S:
                self._report(now)

    def _report(self, now: float) -> None:
        new = self.dropped - self._reported
        self._reported = Counter(self.dropped)
        self._reported_at = now
        if new:
            log.warning(
                "Modbus %s %s:%s: closed %s in the last %.0f s (%d open)",
                self.kind,
                self.host,
                self.requested_port,
                ", ".join(f"{n} {why}" for why, n in sorted(new.items())),
                STATS_EVERY_S,
                len(self.connections),
            )

    # --- TLS trust -------------------------------------------------------------------------
    def peer_for(self, fingerprint: str) -> Peer:
        return _TRUSTED_PEER if self.trust.get(fingerprint) == ACCEPTED else _UNTRUSTED_PEER

    def apply_trust(self, trust: dict[str, str]) -> int:
        """New statuses by fingerprint; connections whose certificate is no longer accepted are
        closed. Returns how many were closed."""
        self.trust = dict(trust)
        closed = 0
        for connection in list(self.connections):
            was_trusted = connection.peer is _TRUSTED_PEER
            connection.refresh_peer()
            if was_trusted and connection.peer is not _TRUSTED_PEER:
                connection.close()
                closed += 1
        if closed:
            log.info("closed %d Modbus TLS connection(s) of a certificate no longer accepted", closed)
        return closed
