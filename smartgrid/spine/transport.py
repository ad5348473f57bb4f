"""The transport contract between SHIP and SPINE, and an in-memory pair for tests and the simulator.

SHIP provides an object with ``send``/``recv``/``remote_ski``/``close``; datagrams are plain JSON
objects (``{"datagram": {"header": {...}, "payload": {"cmd": [{...}]}}}``), the EEBus array form is
SHIP's business.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Transport(Protocol):
    remote_ski: str

    async def send(self, datagram: dict[str, Any]) -> None: ...

    async def recv(self) -> dict[str, Any]: ...

    async def close(self, reason: str) -> None: ...


_CLOSED = object()


class MemoryTransport:
    """One end of an in-memory link; ``recv`` raises ConnectionError once either end closed."""

    def __init__(self, remote_ski: str, inbox: asyncio.Queue[Any], outbox: asyncio.Queue[Any]) -> None:
        self.remote_ski = remote_ski
        self._inbox = inbox
        self._outbox = outbox
        self.closed = False
        self.close_reason = ""
        self.peer: MemoryTransport | None = None
        self.sent: list[dict[str, Any]] = []
        self.record = False

    async def send(self, datagram: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionError("transport closed")
        if self.record:
            self.sent.append(datagram)
        await self._outbox.put(datagram)

    async def recv(self) -> Any:
        if self.closed:
            raise ConnectionError(f"transport closed: {self.close_reason}")
        item = await self._inbox.get()
        if item is _CLOSED:
            self.closed = True
            raise ConnectionError(f"transport closed: {self.close_reason}")
        return item  # whatever was sent: the engine checks the shape

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        await self._inbox.put(_CLOSED)
        if self.peer is not None and not self.peer.closed:
            self.peer.close_reason = reason
            await self._outbox.put(_CLOSED)


def memory_pair(ski_a: str, ski_b: str) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected ends: ``a`` talks to the device with ``ski_b`` and the other way round.

    The queues are unbounded; the SHIP layer is where a real link applies back-pressure.
    """
    a_to_b: asyncio.Queue[Any] = asyncio.Queue()
    b_to_a: asyncio.Queue[Any] = asyncio.Queue()
    a = MemoryTransport(ski_b, inbox=b_to_a, outbox=a_to_b)
    b = MemoryTransport(ski_a, inbox=a_to_b, outbox=b_to_a)
    a.peer = b
    b.peer = a
    return a, b
