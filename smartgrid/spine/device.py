"""The SPINE engine's local device: ``LocalDevice`` with its entity/feature tree (local.py), its
detailed discovery and use-case data, the heartbeat, the bindings (one per server feature), notify
to subscribers, and ``serve``, which runs one ``Peer`` (peer.py) per connection.

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
from typing import Any, Protocol

from smartgrid.spine.local import LocalEntity, LocalFeature, Provider, UseCase
from smartgrid.spine.model import SPECIFICATION_VERSION, Address
from smartgrid.spine.peer import Peer
from smartgrid.spine.transport import Transport
from smartgrid.spine.values import format_duration, utc_timestamp

log = logging.getLogger(__name__)

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
