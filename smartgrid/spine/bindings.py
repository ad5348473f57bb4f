"""NodeManagement subscriptions and bindings: the calls by which a peer requests and deletes them
(checked as spine-go does), and the subscription and binding data that lists them per connection.
Subscriptions live on the ``Peer``, bindings on the ``LocalDevice`` (one per server feature).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smartgrid.spine.model import Address, Cmd, ErrorNumber, SpineError, parse_address

if TYPE_CHECKING:
    from smartgrid.spine.local import LocalFeature
    from smartgrid.spine.peer import Peer

MAX_SUBSCRIPTIONS = 256


def subscription_data(peer: Peer) -> dict[str, Any]:
    """``nodeManagementSubscriptionData``: the subscriptions of this connection."""
    return {
        "subscriptionEntry": [
            {
                "subscriptionId": index,
                "clientAddress": client.to_json(),
                "serverAddress": Address(peer.device.address, key[0], key[1]).to_json(),
            }
            for index, (key, client) in enumerate(peer.subscriptions)
        ]
    }


def binding_data(peer: Peer) -> dict[str, Any]:
    """``nodeManagementBindingData``: the bindings this connection holds."""
    return {
        "bindingEntry": [
            {
                "bindingId": index,
                "clientAddress": client.to_json(),
                "serverAddress": Address(peer.device.address, key[0], key[1]).to_json(),
            }
            for index, (key, (holder, client)) in enumerate(peer.device.bindings.items())
            if holder is peer
        ]
    }


def _pair(peer: Peer, request: Any, what: str) -> tuple[Address, Address, Any]:
    if not isinstance(request, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what} must be an object")
    client = parse_address(request.get("clientAddress"), f"{what}.clientAddress")
    server = parse_address(request.get("serverAddress"), f"{what}.serverAddress")
    # SPINE 7.4.4: a missing device is the sender's (client) / the recipient's (server)
    if client.device is None:
        client = client.with_device(peer.remote_address)
    if server.device is None:
        server = server.with_device(peer.device.address)
    if server.device != peer.device.address:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the server address is not on this device")
    if peer.remote_address is not None and client.device != peer.remote_address:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the client address is not on the sending device")
    return client, server, request.get("serverFeatureType")


def _server_feature(peer: Peer, server: Address, server_type: Any, roles: tuple[str, ...]) -> LocalFeature:
    feature = peer.device.feature_at(server.entity, server.feature)
    if feature is None:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "server feature not found")
    if feature.role not in roles:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the feature is not a server feature")
    if server_type is not None and server_type != feature.type:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "serverFeatureType does not match the server feature")
    return feature


def _check_client(peer: Peer, client: Address, server: LocalFeature) -> None:
    """spine-go's checkRoleAndType on the client side, where the peer's discovery names it."""
    if client.feature is None:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "clientAddress.feature is missing")
    known = peer.remote_features.get((client.entity, client.feature))
    if known is None:
        return
    if known.role not in ("client", "special"):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the client feature is not a client")
    if known.role == "client" and known.type != server.type:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the client feature's type does not match the server's")


async def call(peer: Peer, cmd: Cmd) -> None:
    """A NodeManagement call from the peer: subscription/binding request or delete."""
    data = cmd.data if isinstance(cmd.data, dict) else None
    if data is None:
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{cmd.function} must be an object")
    if cmd.function == "nodeManagementSubscriptionRequestCall":
        client, server, stype = _pair(peer, data.get("subscriptionRequest"), "subscriptionRequest")
        feature = _server_feature(peer, server, stype, ("server", "special"))
        _check_client(peer, client, feature)
        entry = (feature.key, client)
        if any(k == feature.key and c.local() == client.local() for k, c in peer.subscriptions):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "requested subscription is already present")
        if len(peer.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise SpineError(ErrorNumber.OVERLOAD, "too many subscriptions")
        peer.subscriptions.append(entry)
    elif cmd.function == "nodeManagementSubscriptionDeleteCall":
        client, server, _ = _pair(peer, data.get("subscriptionDelete"), "subscriptionDelete")
        key = (server.entity, server.feature)
        peer.subscriptions = [(k, c) for k, c in peer.subscriptions if not (k == key and c.local() == client.local())]
    elif cmd.function == "nodeManagementBindingRequestCall":
        client, server, stype = _pair(peer, data.get("bindingRequest"), "bindingRequest")
        feature = _server_feature(peer, server, stype, ("server",))
        _check_client(peer, client, feature)
        holder = peer.device.bindings.get(feature.key)
        if holder is not None:
            other = holder[0]
            if other is peer or other.ski != peer.ski or not other.closed:
                raise SpineError(ErrorNumber.GENERAL_ERROR, "the server feature already has a binding")
        peer.device.bindings[feature.key] = (peer, client)
    elif cmd.function == "nodeManagementBindingDeleteCall":
        client, server, _ = _pair(peer, data.get("bindingDelete"), "bindingDelete")
        key = (server.entity, server.feature)
        holder = peer.device.bindings.get(key)  # type: ignore[arg-type]
        if holder is not None and holder[0] is peer and holder[1].local() == client.local():
            del peer.device.bindings[key]  # type: ignore[arg-type]
    else:
        raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"call {cmd.function[:64]} not supported")
