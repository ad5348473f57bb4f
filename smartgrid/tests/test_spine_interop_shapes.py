"""Datagrams exactly as spine-go writes them (its spine/testdata, MIT licence, enbility/spine-go),
fed to our engine: what comes back has spine-go's expected shape."""

import asyncio
import json
from pathlib import Path
from typing import Any

from smartgrid.spine.backend import MemoryBackend
from smartgrid.spine.cs import ControllableSystem
from smartgrid.spine.model import parse_datagram
from smartgrid.spine.remote import apply_discovery
from smartgrid.spine.transport import memory_pair
from smartgrid.tests.spine_helpers import GRID, IDENTITY, RawPeer

GOLDEN = Path(__file__).parent / "golden"


class Hems(RawPeer):
    ADDRESS = "HEMS"


def subscription_call(cs_address: str) -> dict[str, Any]:
    # spine/testdata/nm_subscriptionRequestCall_recv_call.json ("TestDeviceAddress" = the CS)
    return {
        "datagram": {
            "header": {
                "specificationVersion": "1.2.0",
                "addressSource": {"device": "HEMS", "entity": [0], "feature": 0},
                "addressDestination": {"entity": [0], "feature": 0},
                "msgCounter": 1,
                "cmdClassifier": "call",
                "ackRequest": True,
            },
            "payload": {
                "cmd": [
                    {
                        "nodeManagementSubscriptionRequestCall": {
                            "subscriptionRequest": {
                                "clientAddress": {"device": "HEMS", "entity": [0], "feature": 0},
                                "serverAddress": {"device": cs_address, "entity": [0], "feature": 0},
                                "serverFeatureType": "NodeManagement",
                            }
                        }
                    }
                ]
            },
        }
    }


async def test_subscription_call_answered_as_spine_go() -> None:
    cs = ControllableSystem(MemoryBackend(grid=GRID), IDENTITY)
    cs_end, raw_end = memory_pair("cs", "hems")
    task = asyncio.create_task(cs.serve(cs_end))
    peer = Hems(raw_end)
    await asyncio.sleep(0.05)
    await peer.send_raw(subscription_call(cs.address))
    answer = await peer.answer_to(1)
    header = answer["datagram"]["header"]
    header.pop("msgCounter")
    # spine/testdata/nm_subscriptionRequestCall_send_result_expected.json without its msgCounter
    assert answer == {
        "datagram": {
            "header": {
                "specificationVersion": "1.3.0",
                "addressSource": {"device": cs.address, "entity": [0], "feature": 0},
                "addressDestination": {"device": "HEMS", "entity": [0], "feature": 0},
                "msgCounterReference": 1,
                "cmdClassifier": "result",
            },
            "payload": {"cmd": [{"resultData": {"errorNumber": 0}}]},
        }
    }
    (peer_state,) = cs.peers
    assert len(peer_state.subscriptions) == 1
    await peer.close()
    await task


async def test_a_spine_go_wallbox_discovery_is_understood() -> None:
    message = json.loads((GOLDEN / "spinego_wallbox_detaileddiscoverydata_recv_reply.json").read_text())
    cs = ControllableSystem(MemoryBackend(grid=GRID), IDENTITY)
    cs_end, raw_end = memory_pair("cs", "wallbox")
    task = asyncio.create_task(cs.serve(cs_end))
    await asyncio.sleep(0.01)
    (peer,) = cs.peers
    datagram = parse_datagram(message)
    assert datagram.cmd is not None
    apply_discovery(peer, datagram.cmd)
    assert peer.remote_address == "Wallbox"
    assert peer.remote_device_type == "ChargingStation"
    assert peer.remote_entities == {(0,): "DeviceInformation", (1,): "EVSE"}
    assert len(peer.remote_features) == 5
    await raw_end.close("over")
    await task
