"""The SPINE engine: a local device with entities and features, and one ``Peer`` per connection.

Follows spine-go 0.7 (the stack eebus-go v0.7.0 runs on): read -> reply, write needs a binding
and is answered with a result, call is NodeManagement's RPC, ackRequest on call/reply/notify is
answered with result 0, errors always answered with a result (never a result to a result).
Per-connection memory is bounded: pending requests, subscriptions, the cached remote discovery,
use cases and data all have caps, and a datagram that breaks them gets an error result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartgrid.spine import lists
from smartgrid.spine.model import (
    SPECIFICATION_VERSION,
    Address,
    Cmd,
    Datagram,
    ErrorNumber,
    SpineError,
    build_datagram,
    is_uint,
    parse_address,
    parse_datagram,
    result_cmd,
)
from smartgrid.spine.transport import Transport
from smartgrid.spine.values import format_duration, utc_timestamp

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 5.0
MAX_PENDING = 128
MAX_SUBSCRIPTIONS = 256
MAX_REMOTE_ENTITIES = 64
MAX_REMOTE_FEATURES = 512
MAX_REMOTE_USE_CASES = 64
MAX_REMOTE_DATA = 256

NODE_MANAGEMENT_FUNCTIONS = (
    ("nodeManagementDetailedDiscoveryData", True),
    ("nodeManagementUseCaseData", True),
    ("nodeManagementSubscriptionData", True),
    ("nodeManagementSubscriptionRequestCall", False),
    ("nodeManagementSubscriptionDeleteCall", False),
    ("nodeManagementBindingData", True),
    ("nodeManagementBindingRequestCall", False),
    ("nodeManagementBindingDeleteCall", False),
    ("nodeManagementDestinationListData", True),
)

Provider = Callable[[], Any]
# write handler: (peer, feature, cmd) -> (error number, description)
WriteHandler = Callable[["Peer", "LocalFeature", Cmd], Awaitable[tuple[int, str]]]


@dataclass
class Function:
    name: str
    read: bool = True
    write: bool = False
    partial: bool = False

    def operations(self) -> dict[str, Any]:
        ops: dict[str, Any] = {}
        if self.read:
            ops["read"] = {}
        if self.write:
            ops["write"] = {"partial": {}} if self.partial else {}
        return ops


class LocalFeature:
    def __init__(self, entity: LocalEntity, fid: int, ftype: str, role: str, description: str | None) -> None:
        self.entity = entity
        self.id = fid
        self.type = ftype
        self.role = role
        self.description = description
        self.functions: dict[str, Function] = {}
        self.providers: dict[str, Provider] = {}
        self.write_handler: WriteHandler | None = None

    @property
    def key(self) -> tuple[tuple[int, ...], int]:
        return (self.entity.address, self.id)

    def address(self) -> Address:
        return Address(self.entity.device.address, self.entity.address, self.id)

    def add_function(
        self,
        name: str,
        provider: Provider,
        *,
        read: bool = True,
        write: bool = False,
        partial: bool = False,
    ) -> None:
        self.functions[name] = Function(name, read=read, write=write, partial=partial)
        self.providers[name] = provider

    def data(self, function: str) -> Any:
        provider = self.providers.get(function)
        return provider() if provider is not None else {}

    def discovery(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "featureAddress": self.address().to_json(),
            "featureType": self.type,
            "role": self.role,
        }
        if self.functions:
            desc["supportedFunction"] = [
                {"function": f.name, "possibleOperations": f.operations()} for f in self.functions.values()
            ]
        if self.description:
            desc["description"] = self.description
        return {"description": desc}


class LocalEntity:
    def __init__(self, device: LocalDevice, address: tuple[int, ...], etype: str) -> None:
        self.device = device
        self.address = address
        self.type = etype
        self.features: list[LocalFeature] = []

    def add_feature(self, ftype: str, role: str, description: str | None = None) -> LocalFeature:
        fid = len(self.features) if self.address == (0,) else len(self.features) + 1
        feature = LocalFeature(self, fid, ftype, role, description)
        self.features.append(feature)
        return feature

    def feature(self, ftype: str, role: str) -> LocalFeature | None:
        for feat in self.features:
            if feat.type == ftype and feat.role == role:
                return feat
        return None


@dataclass(frozen=True)
class UseCase:
    entity: tuple[int, ...]
    actor: str
    name: str
    scenarios: tuple[int, ...]
    version: str = "1.0.0"


class DeviceApp(Protocol):
    """What an application (CS, EG) hears from the engine."""

    async def on_peer_ready(self, peer: Peer) -> None: ...

    async def on_remote_data(self, peer: Peer, source: Address, function: str, data: Any) -> None: ...

    async def on_peer_closed(self, peer: Peer) -> None: ...


class LocalDevice:
    def __init__(
        self,
        *,
        brand: str,
        model: str,
        serial: str,
        ship_id: str,
        device_type: str,
        address: str,
        heartbeat_timeout_s: float = 4.0,
        heartbeat_interval_s: float | None = None,
    ) -> None:
        self.address = address
        self.device_type = device_type
        self.brand = brand
        self.model = model
        self.serial = serial
        self.ship_id = ship_id
        self.app: DeviceApp | None = None
        self.entities: list[LocalEntity] = []
        self.use_cases: list[UseCase] = []
        self.peers: set[Peer] = set()
        # one binding per server feature (spine-go binding_manager): feature key -> (peer, client)
        self.bindings: dict[tuple[tuple[int, ...], int], tuple[Peer, Address]] = {}
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s or (
            heartbeat_timeout_s - 2 if heartbeat_timeout_s > 2 else heartbeat_timeout_s
        )
        self.heartbeat_counter = 0
        self.heartbeat_timestamp = utc_timestamp()
        self.heartbeat_paused = False
        self.heartbeat_feature: LocalFeature | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._binding_ids = 0
        self._subscription_ids = 0

        info = self.add_entity("DeviceInformation")
        self.node_management = info.add_feature("NodeManagement", "special")
        for name, readable in NODE_MANAGEMENT_FUNCTIONS:
            self.node_management.add_function(name, self._nm_provider(name), read=readable)
        classification = info.add_feature("DeviceClassification", "server")
        classification.add_function("deviceClassificationManufacturerData", self._manufacturer)

    # --- model ---------------------------------------------------------------------------------
    def add_entity(self, etype: str) -> LocalEntity:
        entity = LocalEntity(self, (len(self.entities),), etype)
        self.entities.append(entity)
        return entity

    def add_use_case(self, entity: LocalEntity, actor: str, name: str, scenarios: tuple[int, ...]) -> None:
        self.use_cases.append(UseCase(entity.address, actor, name, scenarios))

    def feature_at(self, entity: tuple[int, ...], fid: int | None) -> LocalFeature | None:
        for ent in self.entities:
            if ent.address == entity:
                for feat in ent.features:
                    if feat.id == fid:
                        return feat
        return None

    def _manufacturer(self) -> dict[str, Any]:
        return {
            "deviceName": self.model,
            "deviceCode": self.ship_id,
            "serialNumber": self.serial,
            "brandName": self.brand,
            "vendorName": self.brand,
        }

    def detailed_discovery(self) -> dict[str, Any]:
        return {
            "specificationVersionList": {"specificationVersion": [SPECIFICATION_VERSION]},
            "deviceInformation": {
                "description": {
                    "deviceAddress": {"device": self.address},
                    "deviceType": self.device_type,
                    "networkFeatureSet": "smart",
                }
            },
            "entityInformation": [
                {
                    "description": {
                        "entityAddress": {"device": self.address, "entity": list(ent.address)},
                        "entityType": ent.type,
                    }
                }
                for ent in self.entities
            ],
            "featureInformation": [feat.discovery() for ent in self.entities for feat in ent.features],
        }

    def use_case_data(self) -> dict[str, Any]:
        info: list[dict[str, Any]] = []
        for uc in self.use_cases:
            support = {
                "useCaseName": uc.name,
                "useCaseVersion": uc.version,
                "useCaseAvailable": True,
                "scenarioSupport": list(uc.scenarios),
                "useCaseDocumentSubRevision": "release",
            }
            for item in info:
                if item["address"]["entity"] == list(uc.entity) and item["actor"] == uc.actor:
                    item["useCaseSupport"].append(support)
                    break
            else:
                info.append(
                    {
                        "address": {"device": self.address, "entity": list(uc.entity)},
                        "actor": uc.actor,
                        "useCaseSupport": [support],
                    }
                )
        return {"useCaseInformation": info}

    def _nm_provider(self, name: str) -> Provider:
        if name == "nodeManagementDetailedDiscoveryData":
            return self.detailed_discovery
        if name == "nodeManagementUseCaseData":
            return self.use_case_data
        if name == "nodeManagementDestinationListData":
            return lambda: {
                "nodeManagementDestinationData": [
                    {
                        "deviceDescription": {
                            "deviceAddress": {"device": self.address},
                            "deviceType": self.device_type,
                            "networkFeatureSet": "smart",
                        }
                    }
                ]
            }
        return dict  # per-peer data (subscriptions, bindings) is answered by the peer

    # --- heartbeat -----------------------------------------------------------------------------
    def enable_heartbeat(self, feature: LocalFeature) -> None:
        """``feature`` (DeviceDiagnosis server) serves and notifies this device's heartbeat."""
        self.heartbeat_feature = feature
        feature.add_function("deviceDiagnosisHeartbeatData", self._heartbeat_data)

    def _heartbeat_data(self) -> dict[str, Any]:
        return {
            "timestamp": self.heartbeat_timestamp,
            "heartbeatCounter": self.heartbeat_counter,
            "heartbeatTimeout": format_duration(self.heartbeat_timeout_s),
        }

    async def _heartbeat_loop(self) -> None:
        while self.peers:
            await asyncio.sleep(self.heartbeat_interval_s)
            if self.heartbeat_paused or self.heartbeat_feature is None:
                continue
            self.heartbeat_counter += 1
            self.heartbeat_timestamp = utc_timestamp()
            await self.notify(self.heartbeat_feature, "deviceDiagnosisHeartbeatData")

    def _tick_heartbeat(self) -> None:
        self.heartbeat_counter += 1
        self.heartbeat_timestamp = utc_timestamp()

    # --- connections ---------------------------------------------------------------------------
    async def serve(self, transport: Transport) -> None:
        """Run one peer connection until it closes."""
        peer = Peer(self, transport)
        self.peers.add(peer)
        if self.heartbeat_feature is not None and (self._heartbeat_task is None or self._heartbeat_task.done()):
            if self.heartbeat_counter == 0:
                self._tick_heartbeat()
            self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        try:
            await peer.run()
        finally:
            self.peers.discard(peer)
            for key, (holder, _client) in list(self.bindings.items()):
                if holder is peer:
                    del self.bindings[key]
            if not self.peers and self._heartbeat_task is not None:
                self._heartbeat_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._heartbeat_task
                self._heartbeat_task = None
            if self.app is not None:
                try:
                    await self.app.on_peer_closed(peer)
                except Exception:
                    log.exception("SPINE: application failed on peer close")

    async def notify(self, feature: LocalFeature, function: str) -> None:
        """Send the function's full data to every subscriber of ``feature``."""
        data = feature.data(function)

        async def to_peer(peer: Peer) -> None:
            try:
                for local_key, client in list(peer.subscriptions):
                    if local_key == feature.key and not peer.closed:
                        await peer.send("notify", feature.address(), client, {function: data})
            except ConnectionError as exc:
                log.info("SPINE: notify to %s not sent: %s", peer.ski, exc)

        # all peers at once: a slow one (dropped after SEND_TIMEOUT_S) does not hold up the others
        await asyncio.gather(*(to_peer(peer) for peer in list(self.peers)))

    def has_binding(self, feature: LocalFeature, peer: Peer, client: Address) -> bool:
        holder = self.bindings.get(feature.key)
        return holder is not None and holder[0] is peer and holder[1].local() == client.local()


@dataclass
class RemoteFeature:
    address: Address
    type: str
    role: str
    functions: frozenset[str]


@dataclass
class RemoteUseCase:
    entity: tuple[int, ...] | None
    actor: str
    name: str
    available: bool
    scenarios: tuple[int, ...]


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

    async def _answer_error(self, datagram: Datagram, error: SpineError) -> None:
        header = datagram.header
        if header.classifier == "result":
            return  # never answer a result
        self.errors_sent += 1
        function = datagram.cmd.function if datagram.cmd is not None else "?"
        log.info(
            "SPINE: %s %s from %s answered with error %s: %s",
            header.classifier,
            function[:64],
            self.ski,
            error.number,
            error.description,
        )
        source = header.destination.with_device(self.device.address)
        target = header.source if header.source.device else header.source.with_device(self.remote_address)
        await self.send("result", source, target, result_cmd(error.number, error.description), header.msg_counter)

    async def _answer_ok(self, datagram: Datagram) -> None:
        header = datagram.header
        source = header.destination.with_device(self.device.address)
        target = header.source if header.source.device else header.source.with_device(self.remote_address)
        await self.send("result", source, target, result_cmd(ErrorNumber.NO_ERROR), header.msg_counter)

    async def handle(self, message: Any) -> None:
        try:
            datagram = parse_datagram(message)
        except SpineError as exc:
            self.dropped += 1
            log.info("SPINE: dropped a datagram from %s: %s", self.ski, exc.description)
            return
        if datagram.error is not None:
            await self._answer_error(datagram, datagram.error)
            return
        try:
            await self._dispatch(datagram)
        except SpineError as exc:
            await self._answer_error(datagram, exc)
        except ConnectionError:
            raise
        except Exception:
            log.exception("SPINE: handling a %s from %s failed", datagram.header.classifier, self.ski)
            await self._answer_error(datagram, SpineError(ErrorNumber.GENERAL_ERROR, "internal error"))

    async def _dispatch(self, datagram: Datagram) -> None:
        header = datagram.header
        cmd = datagram.cmd
        assert cmd is not None
        if header.classifier in ("reply", "result") and header.msg_counter_reference is not None:
            future = self._pending.get(header.msg_counter_reference)
        else:
            future = None
        dest = header.destination
        if dest.device is not None and dest.device != self.device.address:
            raise SpineError(ErrorNumber.DESTINATION_UNKNOWN, "unknown destination device")
        feature = self.device.feature_at(dest.entity, dest.feature)
        if feature is None:
            raise SpineError(ErrorNumber.DESTINATION_UNKNOWN, "invalid feature address")
        if self.remote_address is None and header.source.device:
            self.remote_address = header.source.device
        classifier = header.classifier
        if classifier == "result":
            if future is not None and not future.done():
                future.set_result(("result", cmd))
            return
        if classifier == "read":
            await self._read(datagram, feature, cmd)
        elif classifier == "write":
            await self._write(datagram, feature, cmd)
        elif classifier == "call":
            if feature is not self.device.node_management or cmd.function not in feature.functions:
                raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"call {cmd.function[:64]} not supported")
            await self._call(header.source, cmd)
            if header.ack_request:
                await self._answer_ok(datagram)
        else:  # reply, notify
            try:
                await self._remote_data(header.source, cmd)
            except SpineError:
                if future is not None and not future.done():
                    future.set_result(("result", _error_cmd(ErrorNumber.GENERAL_ERROR, "bad reply")))
                raise
            if future is not None and not future.done():
                future.set_result((classifier, cmd))
            if header.ack_request:
                await self._answer_ok(datagram)

    async def _read(self, datagram: Datagram, feature: LocalFeature, cmd: Cmd) -> None:
        if feature.role == "client":
            raise SpineError(ErrorNumber.COMMAND_REJECTED, "read on a client feature")
        fn = feature.functions.get(cmd.function)
        if fn is None or not fn.read:
            raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"function {cmd.function[:64]} not supported")
        if cmd.function == "nodeManagementSubscriptionData":
            data: Any = self._subscription_data()
        elif cmd.function == "nodeManagementBindingData":
            data = self._binding_data()
        else:
            data = feature.data(cmd.function)
        header = datagram.header
        target = header.source if header.source.device else header.source.with_device(self.remote_address)
        await self.send("reply", feature.address(), target, {cmd.function: data}, header.msg_counter)

    async def _write(self, datagram: Datagram, feature: LocalFeature, cmd: Cmd) -> None:
        fn = feature.functions.get(cmd.function)
        if fn is None:
            raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"function {cmd.function[:64]} not supported")
        if not fn.write or feature.write_handler is None:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "write is not allowed on this function")
        if not self.device.has_binding(feature, self, datagram.header.source):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "write denied due to missing binding")
        number, description = await feature.write_handler(self, feature, cmd)
        if number:
            raise SpineError(number, description)
        if datagram.header.ack_request:
            await self._answer_ok(datagram)

    # --- NodeManagement calls ------------------------------------------------------------------
    def _subscription_data(self) -> dict[str, Any]:
        return {
            "subscriptionEntry": [
                {
                    "subscriptionId": index,
                    "clientAddress": client.to_json(),
                    "serverAddress": Address(self.device.address, key[0], key[1]).to_json(),
                }
                for index, (key, client) in enumerate(self.subscriptions)
            ]
        }

    def _binding_data(self) -> dict[str, Any]:
        return {
            "bindingEntry": [
                {
                    "bindingId": index,
                    "clientAddress": client.to_json(),
                    "serverAddress": Address(self.device.address, key[0], key[1]).to_json(),
                }
                for index, (key, (holder, client)) in enumerate(self.device.bindings.items())
                if holder is self
            ]
        }

    def _pair(self, request: Any, what: str) -> tuple[Address, Address, Any]:
        if not isinstance(request, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what} must be an object")
        client = parse_address(request.get("clientAddress"), f"{what}.clientAddress")
        server = parse_address(request.get("serverAddress"), f"{what}.serverAddress")
        # SPINE 7.4.4: a missing device is the sender's (client) / the recipient's (server)
        if client.device is None:
            client = client.with_device(self.remote_address)
        if server.device is None:
            server = server.with_device(self.device.address)
        if server.device != self.device.address:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "the server address is not on this device")
        if self.remote_address is not None and client.device != self.remote_address:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "the client address is not on the sending device")
        return client, server, request.get("serverFeatureType")

    def _server_feature(self, server: Address, server_type: Any, roles: tuple[str, ...]) -> LocalFeature:
        feature = self.device.feature_at(server.entity, server.feature)
        if feature is None:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "server feature not found")
        if feature.role not in roles:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "the feature is not a server feature")
        if server_type is not None and server_type != feature.type:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "serverFeatureType does not match the server feature")
        return feature

    def _check_client(self, client: Address, server: LocalFeature) -> None:
        """spine-go's checkRoleAndType on the client side, where the peer's discovery names it."""
        if client.feature is None:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "clientAddress.feature is missing")
        known = self.remote_features.get((client.entity, client.feature))
        if known is None:
            return
        if known.role not in ("client", "special"):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "the client feature is not a client")
        if known.role == "client" and known.type != server.type:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "the client feature's type does not match the server's")

    async def _call(self, source: Address, cmd: Cmd) -> None:
        data = cmd.data if isinstance(cmd.data, dict) else None
        if data is None:
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{cmd.function} must be an object")
        if cmd.function == "nodeManagementSubscriptionRequestCall":
            client, server, stype = self._pair(data.get("subscriptionRequest"), "subscriptionRequest")
            feature = self._server_feature(server, stype, ("server", "special"))
            self._check_client(client, feature)
            entry = (feature.key, client)
            if any(k == feature.key and c.local() == client.local() for k, c in self.subscriptions):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "requested subscription is already present")
            if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
                raise SpineError(ErrorNumber.OVERLOAD, "too many subscriptions")
            self.subscriptions.append(entry)
        elif cmd.function == "nodeManagementSubscriptionDeleteCall":
            client, server, _ = self._pair(data.get("subscriptionDelete"), "subscriptionDelete")
            key = (server.entity, server.feature)
            self.subscriptions = [
                (k, c) for k, c in self.subscriptions if not (k == key and c.local() == client.local())
            ]
        elif cmd.function == "nodeManagementBindingRequestCall":
            client, server, stype = self._pair(data.get("bindingRequest"), "bindingRequest")
            feature = self._server_feature(server, stype, ("server",))
            self._check_client(client, feature)
            holder = self.device.bindings.get(feature.key)
            if holder is not None:
                other = holder[0]
                if other is self or other.ski != self.ski or not other.closed:
                    raise SpineError(ErrorNumber.GENERAL_ERROR, "the server feature already has a binding")
            self.device.bindings[feature.key] = (self, client)
        elif cmd.function == "nodeManagementBindingDeleteCall":
            client, server, _ = self._pair(data.get("bindingDelete"), "bindingDelete")
            key = (server.entity, server.feature)
            holder = self.device.bindings.get(key)  # type: ignore[arg-type]
            if holder is not None and holder[0] is self and holder[1].local() == client.local():
                del self.device.bindings[key]  # type: ignore[arg-type]
        else:
            raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"call {cmd.function[:64]} not supported")

    # --- data from the peer --------------------------------------------------------------------
    async def _remote_data(self, source: Address, cmd: Cmd) -> None:
        if cmd.function == "resultData":
            return
        if cmd.function == "nodeManagementDetailedDiscoveryData":
            self._discovery(cmd)
            return
        if cmd.function == "nodeManagementUseCaseData":
            self._use_cases(cmd.data)
            # a changed use-case list: let the application look again (one run at a time, so a
            # peer that floods notifies cannot pile up tasks)
            if self.ready.is_set() and self.device.app is not None and not self._app_busy:
                self._app_busy = True
                self.spawn(self._app_ready())
            return
        if cmd.function.startswith("nodeManagement"):
            return  # subscription/binding/destination data of the peer: not needed
        if source.feature is None:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "source feature missing")
        key = (source.entity, source.feature, cmd.function)
        if key not in self.remote_data and len(self.remote_data) >= MAX_REMOTE_DATA:
            raise SpineError(ErrorNumber.OVERLOAD, "too much remote data")
        if cmd.function in lists.LIST_SPECS:
            data = lists.merge(cmd.function, self.remote_data.get(key), cmd.data, cmd.partial, cmd.delete_filter)
        elif isinstance(cmd.data, dict):
            data = cmd.data
        else:
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{cmd.function[:64]} must be an object")
        self.remote_data[key] = data
        if self.device.app is not None:
            await self.device.app.on_remote_data(self, source.with_device(self.remote_address), cmd.function, data)

    def _discovery(self, cmd: Cmd) -> None:
        data = cmd.data
        if not isinstance(data, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "detailed discovery must be an object")
        full = not cmd.partial
        info = data.get("deviceInformation")
        if isinstance(info, dict) and isinstance(info.get("description"), dict):
            desc = info["description"]
            addr = desc.get("deviceAddress")
            if isinstance(addr, dict) and isinstance(addr.get("device"), str) and len(addr["device"]) <= 256:
                self.remote_address = addr["device"]
            if isinstance(desc.get("deviceType"), str):
                self.remote_device_type = desc["deviceType"][:64]
        entities = data.get("entityInformation") or []
        features = data.get("featureInformation") or []
        if not isinstance(entities, list) or not isinstance(features, list):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "entityInformation/featureInformation must be lists")
        if len(entities) > MAX_REMOTE_ENTITIES or len(features) > MAX_REMOTE_FEATURES:
            raise SpineError(ErrorNumber.OVERLOAD, "detailed discovery too large")
        new_entities: dict[tuple[int, ...], str] = {} if full else dict(self.remote_entities)
        new_features = {} if full else dict(self.remote_features)
        for item in entities:
            desc = item.get("description") if isinstance(item, dict) else None
            if not isinstance(desc, dict):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "entityInformation items need a description")
            address = parse_address(desc.get("entityAddress"), "entityAddress", need_feature=False)
            if desc.get("lastStateChange") == "removed":
                new_entities.pop(address.entity, None)
                new_features = {k: v for k, v in new_features.items() if k[0] != address.entity}
                continue
            etype = desc.get("entityType")
            new_entities[address.entity] = etype[:64] if isinstance(etype, str) else ""
        for item in features:
            desc = item.get("description") if isinstance(item, dict) else None
            if not isinstance(desc, dict):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "featureInformation items need a description")
            address = parse_address(desc.get("featureAddress"), "featureAddress")
            assert address.feature is not None
            functions: set[str] = set()
            supported = desc.get("supportedFunction") or []
            if isinstance(supported, list):
                for fn in supported[:64]:
                    if isinstance(fn, dict) and isinstance(fn.get("function"), str):
                        functions.add(fn["function"][:80])
            ftype, role = desc.get("featureType"), desc.get("role")
            new_features[(address.entity, address.feature)] = RemoteFeature(
                address.with_device(self.remote_address),
                ftype[:64] if isinstance(ftype, str) else "",
                role if isinstance(role, str) else "",
                frozenset(functions),
            )
        self.remote_entities = new_entities
        self.remote_features = new_features

    def _use_cases(self, data: Any) -> None:
        items = data.get("useCaseInformation") if isinstance(data, dict) else None
        if items is None:
            items = []
        if not isinstance(items, list):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "useCaseInformation must be a list")
        found: list[RemoteUseCase] = []
        for item in items:
            if not isinstance(item, dict):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "useCaseInformation items must be objects")
            entity: tuple[int, ...] | None = None
            address = item.get("address")
            path = address.get("entity") if isinstance(address, dict) else None
            if isinstance(path, list) and len(path) <= 8 and all(is_uint(e, 2**32 - 1) for e in path):
                entity = tuple(path)
            actor = item.get("actor") if isinstance(item.get("actor"), str) else ""
            supports = item.get("useCaseSupport") or []
            if not isinstance(supports, list):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "useCaseSupport must be a list")
            for support in supports:
                if not isinstance(support, dict) or not isinstance(support.get("useCaseName"), str):
                    continue
                scenarios = support.get("scenarioSupport") or []
                if not isinstance(scenarios, list):
                    scenarios = []
                found.append(
                    RemoteUseCase(
                        entity,
                        str(actor)[:64],
                        support["useCaseName"][:80],
                        support.get("useCaseAvailable") is not False,
                        tuple(s for s in scenarios[:32] if is_uint(s, 1000)),
                    )
                )
                if len(found) > MAX_REMOTE_USE_CASES:
                    raise SpineError(ErrorNumber.OVERLOAD, "too many use cases")
        self.remote_use_cases = found

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


def _error_cmd(number: int, description: str) -> Cmd:
    return Cmd("resultData", {"errorNumber": number, "description": description}, False, None, {})


def monotonic() -> float:
    return time.monotonic()
