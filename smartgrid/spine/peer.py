"""One ``Peer`` per connection: its state (msgCounter, pending requests, subscriptions, what the
peer told us), sending and requests (read, acknowledged write/call, subscribe, bind) and the
connection's life: the receive loop and spine-go's connect flow (discovery, NodeManagement
subscription, use cases), then the application takes over. Incoming datagrams go to routing.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartgrid.spine import routing
from smartgrid.spine.model import Address, Cmd, ErrorNumber, SpineError, build_datagram, is_uint
from smartgrid.spine.remote import RemoteFeature, RemoteUseCase
from smartgrid.spine.transport import Transport

if TYPE_CHECKING:
    from smartgrid.spine.device import LocalDevice
    from smartgrid.spine.local import LocalFeature

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 5.0
MAX_PENDING = 128


@dataclass
class Peer:
    device: LocalDevice
    transport: Transport
    remote_address: str | None = None
    remote_device_type: str | None = None
    remote_entities: dict[tuple[int, ...], str] = field(default_factory=dict)
    remote_features: dict[tuple[tuple[int, ...], int], RemoteFeature] = field(default_factory=dict)
    remote_use_cases: list[RemoteUseCase] = field(default_factory=list)
    remote_data: dict[tuple[tuple[int, ...], int, str], Any] = field(default_factory=dict)
    subscriptions: list[tuple[tuple[tuple[int, ...], int], Address]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    errors_sent: int = 0
    dropped: int = 0
    received: int = 0

    def __post_init__(self) -> None:
        self.ski = self.transport.remote_ski
        self._counter = 0
        self._pending: dict[int, asyncio.Future[tuple[str, Cmd | None]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._app_busy = False
        self.closed = False

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    # --- sending -------------------------------------------------------------------------------
    def remote(self, entity: tuple[int, ...], feature: int | None) -> Address:
        return Address(self.remote_address, entity, feature)

    async def send(
        self,
        classifier: str,
        source: Address,
        destination: Address,
        cmd: dict[str, Any],
        reference: int | None = None,
        ack: bool = False,
        pending: asyncio.Future[tuple[str, Cmd | None]] | None = None,
    ) -> int:
        """Send one datagram with the next msgCounter; ``pending`` waits for its answer."""
        if self.closed:
            raise ConnectionError("peer connection closed")
        self._counter += 1
        counter = self._counter
        if pending is not None:
            self._pending[counter] = pending  # before sending: the answer may come at once
        datagram = build_datagram(source, destination, counter, classifier, cmd, reference, ack)
        try:
            await asyncio.wait_for(self.transport.send(datagram), SEND_TIMEOUT_S)
        except TimeoutError:
            await self.close("peer does not take datagrams")
            raise ConnectionError("send timed out") from None
        return counter

    async def request(
        self,
        classifier: str,
        source: LocalFeature,
        destination: Address,
        cmd: dict[str, Any],
        ack: bool = False,
    ) -> tuple[str, Cmd | None]:
        """Send and wait for the reply or result that references it: (classifier, cmd)."""
        if len(self._pending) >= MAX_PENDING:
            raise SpineError(ErrorNumber.OVERLOAD, "too many requests pending")
        future: asyncio.Future[tuple[str, Cmd | None]] = asyncio.get_running_loop().create_future()
        try:
            await self.send(classifier, source.address(), destination, cmd, ack=ack, pending=future)
            return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise SpineError(ErrorNumber.TIMEOUT, "no answer in time") from None
        finally:
            for key, value in list(self._pending.items()):
                if value is future:
                    del self._pending[key]

    async def read(self, source: LocalFeature, destination: Address, function: str) -> Any:
        classifier, cmd = await self.request("read", source, destination, {function: {}})
        if classifier == "result" and cmd is not None:
            number, text = result_of(cmd)
            raise SpineError(number or ErrorNumber.GENERAL_ERROR, text)
        if cmd is None or cmd.function != function:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "unexpected answer")
        return cmd.data

    async def acked(
        self, classifier: str, source: LocalFeature, destination: Address, cmd: dict[str, Any]
    ) -> tuple[int, str]:
        """Send with ackRequest and return the result's (error number, description)."""
        try:
            answer, result = await self.request(classifier, source, destination, cmd, ack=True)
        except SpineError as exc:
            return exc.number, exc.description
        if answer != "result" or result is None:
            return ErrorNumber.GENERAL_ERROR, "no result"
        return result_of(result)

    def _nm_remote(self) -> Address:
        return self.remote((0,), 0)

    async def subscribe(self, client: LocalFeature, server: Address, server_type: str) -> tuple[int, str]:
        request = {
            "subscriptionRequest": {
                "clientAddress": client.address().to_json(),
                "serverAddress": server.to_json(),
                "serverFeatureType": server_type,
            }
        }
        nm = self.device.node_management
        return await self.acked("call", nm, self._nm_remote(), {"nodeManagementSubscriptionRequestCall": request})

    async def bind(self, client: LocalFeature, server: Address, server_type: str) -> tuple[int, str]:
        request = {
            "bindingRequest": {
                "clientAddress": client.address().to_json(),
                "serverAddress": server.to_json(),
                "serverFeatureType": server_type,
            }
        }
        nm = self.device.node_management
        return await self.acked("call", nm, self._nm_remote(), {"nodeManagementBindingRequestCall": request})

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.transport.close(reason)

    def waiting_for(self, counter: int) -> asyncio.Future[tuple[str, Cmd | None]] | None:
        """The pending request with msgCounter ``counter``, if one waits for its answer."""
        return self._pending.get(counter)

    def look_again(self) -> None:
        """A changed use-case list: let the application look again (one run at a time, so a
        peer that floods notifies cannot pile up tasks)."""
        if self.ready.is_set() and self.device.app is not None and not self._app_busy:
            self._app_busy = True
            self.spawn(self._app_ready())

    async def _app_ready(self) -> None:
        try:
            if self.device.app is not None:
                await self.device.app.on_peer_ready(self)
        finally:
            self._app_busy = False

    def spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the connection ------------------------------------------------------------------------
    async def run(self) -> None:
        self.spawn(self._connect_flow())
        try:
            while True:
                try:
                    message = await self.transport.recv()
                except (ConnectionError, EOFError, OSError):
                    break
                self.received += 1
                try:
                    await self.handle(message)
                except ConnectionError:
                    break
                except Exception:
                    log.exception("SPINE: datagram handling failed")
        finally:
            self.closed = True
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SpineError(ErrorNumber.DESTINATION_UNREACHABLE, "connection closed"))
            self._pending.clear()

    async def _connect_flow(self) -> None:
        """spine-go's SetupRemoteDevice: read the detailed discovery, subscribe NodeManagement,
        read the use cases; then hand the peer to the application."""
        nm = self.device.node_management
        try:
            await self.read(nm, Address(None, (0,), 0), "nodeManagementDetailedDiscoveryData")
            await self.subscribe(nm, self._nm_remote(), "NodeManagement")
            await self.read(nm, self._nm_remote(), "nodeManagementUseCaseData")
        except SpineError as exc:
            log.warning("SPINE: discovery of %s failed: %s", self.ski, exc.description)
            await self.close("SPINE discovery failed")
            return
        except ConnectionError:
            return
        self.ready.set()
        if self.device.app is not None:
            await self.device.app.on_peer_ready(self)

    async def handle(self, message: Any) -> None:
        """One message from the peer (see routing.py)."""
        await routing.handle(self, message)

    # --- helpers for applications --------------------------------------------------------------
    def entities_with_use_case(self, actor: str, name: str) -> list[tuple[int, ...]]:
        out = []
        for uc in self.remote_use_cases:
            if (
                uc.actor == actor
                and uc.name == name
                and uc.available
                and uc.entity is not None
                and uc.entity not in out
            ):
                out.append(uc.entity)
        return out

    def remote_feature(self, entity: tuple[int, ...], ftype: str, role: str = "server") -> RemoteFeature | None:
        for (ent, _fid), feat in self.remote_features.items():
            if ent == entity and feat.type == ftype and feat.role == role:
                return feat
        return None


def result_of(cmd: Cmd) -> tuple[int, str]:
    data = cmd.data if isinstance(cmd.data, dict) else {}
    number = data.get("errorNumber", ErrorNumber.GENERAL_ERROR)
    if not is_uint(number, 1000):
        number = ErrorNumber.GENERAL_ERROR
    description = data.get("description")
    return int(number), description if isinstance(description, str) else ""
