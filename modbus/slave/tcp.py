"""Modbus TCP and Modbus TCP over TLS (MB-2) on asyncio: MBAP framing around :class:`SlaveCore`.

Requests are answered in order, also when several arrive in one segment (pipelined). A frame
whose MBAP header is impossible (protocol id not 0, length outside 2-254) ends the connection,
since the stream cannot be re-synchronised; everything else is answered, an unknown unit id with
exception 0x0B (gateway: no response from the target), as a KSEM behind a gateway would.

On TLS each connection carries the SHA-256 fingerprint of its client certificate: requests are
served only while that certificate is accepted, and withdrawing acceptance closes its
connections at once (:meth:`TcpListener.apply_trust`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
from collections.abc import Callable

from modbus import tls
from modbus.slave.core import PLAIN, ExceptionCode, Peer, SlaveCore, exception

log = logging.getLogger(__name__)

MBAP = struct.Struct(">HHHB")
MAX_ADU = 260
MAX_CONNECTIONS = 64

ACCEPTED = "accepted"
PENDING = "pending"
_TRUSTED_PEER = Peer(may_write=True, authorized=True)
_UNTRUSTED_PEER = Peer(may_write=False, authorized=False)


class ModbusTcpProtocol(asyncio.Protocol):
    def __init__(self, listener: TcpListener) -> None:
        self._listener = listener
        self._core = listener.core
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.fingerprint = ""
        self.peer = PLAIN

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._listener.admit(self):
            transport.abort()
            return
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            self.fingerprint = tls.fingerprint(der) if der else ""
            self.peer = self._listener.peer_for(self.fingerprint)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.forget(self)

    def refresh_peer(self) -> None:
        if self.fingerprint:
            self.peer = self._listener.peer_for(self.fingerprint)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        out = []
        core = self._core
        while len(buffer) >= 8:
            transaction, protocol, length, unit = MBAP.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= 254:
                self.close()
                return
            end = 6 + length
            if len(buffer) < end:
                break
            pdu = bytes(buffer[7:end])
            del buffer[:end]
            if core.serves(unit):
                response = core.handle(pdu, self.peer)
            else:
                response = exception(pdu[0], ExceptionCode.GATEWAY_NO_RESPONSE)
            out.append(MBAP.pack(transaction, 0, len(response) + 1, unit) + response)
        if out and self._transport is not None:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))


class TcpListener:
    """One listening socket (plain or TLS) and the connections it holds."""

    def __init__(
        self,
        core: SlaveCore,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.core = core
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.trust: dict[str, str] = {}  # fingerprint -> status, for TLS
        self.connections: set[ModbusTcpProtocol] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        factory: Callable[[], ModbusTcpProtocol] = lambda: ModbusTcpProtocol(self)  # noqa: E731
        self._server = await loop.create_server(
            factory,
            self.host,
            self.requested_port,
            ssl=self.ssl_context,
            reuse_address=True,
            ssl_handshake_timeout=10.0 if self.ssl_context else None,
        )

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for connection in list(self.connections):
                connection.close()
            await server.wait_closed()

    def admit(self, connection: ModbusTcpProtocol) -> bool:
        if len(self.connections) >= self.max_connections:
            log.warning(
                "Modbus %s:%s: connection refused, %d open", self.host, self.requested_port, len(self.connections)
            )
            return False
        self.connections.add(connection)
        return True

    def forget(self, connection: ModbusTcpProtocol) -> None:
        self.connections.discard(connection)

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
