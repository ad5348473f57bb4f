"""A SHIP connection's state, its WebSocket I/O and the data phase: SPINE data in (queued for
``recv``) and out (``send``), the peer's late access methods, and the close (announce/confirm,
WebSocket code 4001) or an abort. ``ShipConnection`` (connection.py) runs the handshake on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from .eebus_json import encode_data, encode_message
from .frames import (
    CLOSE_NORMAL,
    MSG_CONTROL,
    MSG_DATA,
    MSG_END,
    PROTOCOL_ID,
    ConnectionClosed,
    Fatal,
    Role,
    ShipTimers,
    keys_of,
    need_object,
    parse_frame,
)
from .transport import TransportError, WsClosed, WsConnection

log = logging.getLogger(__name__)


class ShipLink:
    """The state and data phase of a SHIP connection to one peer (``remote_ski``).

    SPINE uses ``send(datagram)``, ``recv()``, ``close(reason)`` and ``closed`` (an asyncio.Event).
    """

    def __init__(
        self,
        ws: WsConnection,
        *,
        role: Role,
        local_ship_id: str,
        remote_ski: str,
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
        self._data: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._close_confirmed = asyncio.Event()
        self._closing = False

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    # -- I/O --------------------------------------------------------------------------------------
    async def _send_control(self, message: dict[str, Any], kind: int = MSG_CONTROL) -> None:
        await self.ws.send(bytes([kind]) + encode_message(message))

    def _mark_closed(self) -> None:
        self.state = "closed"
        self._data.put_nowait(None)
        self.closed.set()

    # -- data phase ---------------------------------------------------------------------------
    def _queue_data(self, message: dict[str, Any]) -> None:
        data = need_object(message.get("data"), "data")
        header = data.get("header")
        if isinstance(header, dict) and header.get("protocolId", PROTOCOL_ID) != PROTOCOL_ID:
            raise Fatal(f"unsupported data protocolId {header.get('protocolId')!r}")
        payload = need_object(data.get("payload"), "data.payload")
        self._data.put_nowait(payload)

    async def _read_loop(self) -> None:
        reason = "peer closed the connection"
        try:
            while True:
                raw = await self.ws.recv()
                try:
                    kind, message = parse_frame(raw)
                except ValueError as exc:
                    raise Fatal(f"malformed message: {exc}") from None
                message = message or {}
                if kind == MSG_DATA:
                    self._queue_data(message)
                elif kind == MSG_CONTROL:
                    if "accessMethodsRequest" in message:
                        await self._send_control({"accessMethods": {"id": self.local_ship_id}})
                    elif "accessMethods" in message:
                        pass  # a late answer to our request
                    else:
                        raise Fatal(f"unexpected control message after the handshake ({keys_of(message)})")
                elif kind == MSG_END:
                    close = need_object(message.get("connectionClose"), "connectionClose")
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
                        raise Fatal(f"unknown connectionClose phase {phase!r}")
                else:
                    raise Fatal("connection mode initialisation after the handshake")
        except WsClosed as exc:
            reason = self.ws.error or f"peer closed the connection ({exc.code} {exc.reason})"
        except Fatal as exc:
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
