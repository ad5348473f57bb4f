"""Routing of incoming datagrams: parse, check the destination, then by classifier: a read is
replied to, a write goes to the feature's write handler (binding required), a call to NodeManagement
(bindings.py), a reply or notify to the peer's remote view (remote.py), a result to the request
that waits for it. Errors are answered with a result, acknowledgements with result 0.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from smartgrid.spine import bindings, remote
from smartgrid.spine.model import Cmd, Datagram, ErrorNumber, SpineError, parse_datagram, result_cmd

if TYPE_CHECKING:
    from smartgrid.spine.local import LocalFeature
    from smartgrid.spine.peer import Peer

log = logging.getLogger(__name__)


async def answer_error(peer: Peer, datagram: Datagram, error: SpineError) -> None:
    """Answer a datagram with an error result (a result itself is never answered)."""
    header = datagram.header
    if header.classifier == "result":
        return  # never answer a result
    peer.errors_sent += 1
    function = datagram.cmd.function if datagram.cmd is not None else "?"
    log.info(
        "SPINE: %s %s from %s answered with error %s: %s",
        header.classifier,
        function[:64],
        peer.ski,
        error.number,
        error.description,
    )
    source = header.destination.with_device(peer.device.address)
    target = header.source if header.source.device else header.source.with_device(peer.remote_address)
    await peer.send("result", source, target, result_cmd(error.number, error.description), header.msg_counter)


async def answer_ok(peer: Peer, datagram: Datagram) -> None:
    """Acknowledge a datagram with result 0."""
    header = datagram.header
    source = header.destination.with_device(peer.device.address)
    target = header.source if header.source.device else header.source.with_device(peer.remote_address)
    await peer.send("result", source, target, result_cmd(ErrorNumber.NO_ERROR), header.msg_counter)


async def handle(peer: Peer, message: Any) -> None:
    """One message from the peer: parse, dispatch, and answer any error with a result."""
    try:
        datagram = parse_datagram(message)
    except SpineError as exc:
        peer.dropped += 1
        log.info("SPINE: dropped a datagram from %s: %s", peer.ski, exc.description)
        return
    if datagram.error is not None:
        await answer_error(peer, datagram, datagram.error)
        return
    try:
        await dispatch(peer, datagram)
    except SpineError as exc:
        await answer_error(peer, datagram, exc)
    except ConnectionError:
        raise
    except Exception:
        log.exception("SPINE: handling a %s from %s failed", datagram.header.classifier, peer.ski)
        await answer_error(peer, datagram, SpineError(ErrorNumber.GENERAL_ERROR, "internal error"))


async def dispatch(peer: Peer, datagram: Datagram) -> None:
    """Route a parsed datagram by its classifier to the addressed local feature."""
    header = datagram.header
    cmd = datagram.cmd
    assert cmd is not None
    if header.classifier in ("reply", "result") and header.msg_counter_reference is not None:
        future = peer.waiting_for(header.msg_counter_reference)
    else:
        future = None
    dest = header.destination
    if dest.device is not None and dest.device != peer.device.address:
        raise SpineError(ErrorNumber.DESTINATION_UNKNOWN, "unknown destination device")
    feature = peer.device.feature_at(dest.entity, dest.feature)
    if feature is None:
        raise SpineError(ErrorNumber.DESTINATION_UNKNOWN, "invalid feature address")
    if peer.remote_address is None and header.source.device:
        peer.remote_address = header.source.device
    classifier = header.classifier
    if classifier == "result":
        if future is not None and not future.done():
            future.set_result(("result", cmd))
        return
    if classifier == "read":
        await serve_read(peer, datagram, feature, cmd)
    elif classifier == "write":
        await serve_write(peer, datagram, feature, cmd)
    elif classifier == "call":
        if feature is not peer.device.node_management or cmd.function not in feature.functions:
            raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"call {cmd.function[:64]} not supported")
        await bindings.call(peer, cmd)
        if header.ack_request:
            await answer_ok(peer, datagram)
    else:  # reply, notify
        try:
            await remote.remote_data(peer, header.source, cmd)
        except SpineError:
            if future is not None and not future.done():
                future.set_result(("result", error_cmd(ErrorNumber.GENERAL_ERROR, "bad reply")))
            raise
        if future is not None and not future.done():
            future.set_result((classifier, cmd))
        if header.ack_request:
            await answer_ok(peer, datagram)


async def serve_read(peer: Peer, datagram: Datagram, feature: LocalFeature, cmd: Cmd) -> None:
    """A read: reply with the function's full data."""
    if feature.role == "client":
        raise SpineError(ErrorNumber.COMMAND_REJECTED, "read on a client feature")
    fn = feature.functions.get(cmd.function)
    if fn is None or not fn.read:
        raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"function {cmd.function[:64]} not supported")
    if cmd.function == "nodeManagementSubscriptionData":
        data: Any = bindings.subscription_data(peer)
    elif cmd.function == "nodeManagementBindingData":
        data = bindings.binding_data(peer)
    else:
        data = feature.data(cmd.function)
    header = datagram.header
    target = header.source if header.source.device else header.source.with_device(peer.remote_address)
    await peer.send("reply", feature.address(), target, {cmd.function: data}, header.msg_counter)


async def serve_write(peer: Peer, datagram: Datagram, feature: LocalFeature, cmd: Cmd) -> None:
    """A write: only from the binding's holder, handed to the feature's write handler."""
    fn = feature.functions.get(cmd.function)
    if fn is None:
        raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, f"function {cmd.function[:64]} not supported")
    if not fn.write or feature.write_handler is None:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "write is not allowed on this function")
    if not peer.device.has_binding(feature, peer, datagram.header.source):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "write denied due to missing binding")
    number, description = await feature.write_handler(peer, feature, cmd)
    if number:
        raise SpineError(number, description)
    if datagram.header.ack_request:
        await answer_ok(peer, datagram)


def error_cmd(number: int, description: str) -> Cmd:
    return Cmd("resultData", {"errorNumber": number, "description": description}, False, None, {})
