"""What a peer tells us about itself: its detailed discovery (entities and features), its use cases
and the data its server features reply and notify, kept per connection and bounded (a datagram
that goes beyond a cap is answered with an error result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartgrid.spine import lists
from smartgrid.spine.model import Address, Cmd, ErrorNumber, SpineError, is_uint, parse_address

if TYPE_CHECKING:
    from smartgrid.spine.peer import Peer

MAX_REMOTE_ENTITIES = 64
MAX_REMOTE_FEATURES = 512
MAX_REMOTE_USE_CASES = 64
MAX_REMOTE_DATA = 256


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


async def remote_data(peer: Peer, source: Address, cmd: Cmd) -> None:
    """A reply or notify from the peer: its discovery, its use cases, or data for the application."""
    if cmd.function == "resultData":
        return
    if cmd.function == "nodeManagementDetailedDiscoveryData":
        apply_discovery(peer, cmd)
        return
    if cmd.function == "nodeManagementUseCaseData":
        peer.remote_use_cases = parse_use_cases(cmd.data)
        peer.look_again()
        return
    if cmd.function.startswith("nodeManagement"):
        return  # subscription/binding/destination data of the peer: not needed
    if source.feature is None:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "source feature missing")
    key = (source.entity, source.feature, cmd.function)
    if key not in peer.remote_data and len(peer.remote_data) >= MAX_REMOTE_DATA:
        raise SpineError(ErrorNumber.OVERLOAD, "too much remote data")
    if cmd.function in lists.LIST_SPECS:
        data = lists.merge(cmd.function, peer.remote_data.get(key), cmd.data, cmd.partial, cmd.delete_filter)
    elif isinstance(cmd.data, dict):
        data = cmd.data
    else:
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{cmd.function[:64]} must be an object")
    peer.remote_data[key] = data
    if peer.device.app is not None:
        await peer.device.app.on_remote_data(peer, source.with_device(peer.remote_address), cmd.function, data)


def apply_discovery(peer: Peer, cmd: Cmd) -> None:
    """Take the peer's detailed discovery (full, or partial on top of what we know) into ``peer``."""
    data = cmd.data
    if not isinstance(data, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "detailed discovery must be an object")
    full = not cmd.partial
    info = data.get("deviceInformation")
    if isinstance(info, dict) and isinstance(info.get("description"), dict):
        desc = info["description"]
        addr = desc.get("deviceAddress")
        if isinstance(addr, dict) and isinstance(addr.get("device"), str) and len(addr["device"]) <= 256:
            peer.remote_address = addr["device"]
        if isinstance(desc.get("deviceType"), str):
            peer.remote_device_type = desc["deviceType"][:64]
    entities = data.get("entityInformation") or []
    features = data.get("featureInformation") or []
    if not isinstance(entities, list) or not isinstance(features, list):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "entityInformation/featureInformation must be lists")
    if len(entities) > MAX_REMOTE_ENTITIES or len(features) > MAX_REMOTE_FEATURES:
        raise SpineError(ErrorNumber.OVERLOAD, "detailed discovery too large")
    new_entities: dict[tuple[int, ...], str] = {} if full else dict(peer.remote_entities)
    new_features = {} if full else dict(peer.remote_features)
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
            address.with_device(peer.remote_address),
            ftype[:64] if isinstance(ftype, str) else "",
            role if isinstance(role, str) else "",
            frozenset(functions),
        )
    peer.remote_entities = new_entities
    peer.remote_features = new_features


def parse_use_cases(data: Any) -> list[RemoteUseCase]:
    """The peer's use cases from its ``nodeManagementUseCaseData``."""
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
    return found
