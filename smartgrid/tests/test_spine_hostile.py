"""Hostile and odd datagrams against the controllable system: error results, never a crash, and
the engine keeps serving (each test ends with a normal read that still works)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from smartgrid.spine.backend import Direction, MemoryBackend, PowerLimit
from smartgrid.spine.bindings import MAX_SUBSCRIPTIONS
from smartgrid.spine.cs import ControllableSystem
from smartgrid.spine.remote import MAX_REMOTE_DATA
from smartgrid.spine.transport import memory_pair
from smartgrid.tests.spine_helpers import GRID, IDENTITY, RawPeer, result_of

LC = ([1], 1)  # the CS's LoadControl server
NM = ([0], 0)


@contextlib.asynccontextmanager
async def raw_peer() -> AsyncIterator[tuple[RawPeer, ControllableSystem, MemoryBackend]]:
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY, heartbeat_timeout_s=30)
    cs_end, raw_end = memory_pair("cs", "raw")
    task = asyncio.create_task(cs.serve(cs_end))
    peer = RawPeer(raw_end)
    for _ in range(100):
        if cs.peers and next(iter(cs.peers)).ready.is_set():
            break
        await asyncio.sleep(0.01)
    try:
        yield peer, cs, backend
        # still serving
        counter = await peer.send("read", *LC, {"loadControlLimitDescriptionListData": {}}, ack=False)
        classifier, cmd = result_of(await peer.answer_to(counter))
        assert (
            classifier == "reply"
            and len(cmd["loadControlLimitDescriptionListData"]["loadControlLimitDescriptionData"]) == 2
        )
        assert not task.done()
    finally:
        await peer.close()
        await asyncio.wait_for(task, 5)


async def expect_result(peer: RawPeer, counter: int) -> tuple[int, str]:
    classifier, cmd = result_of(await peer.answer_to(counter))
    assert classifier == "result"
    return cmd["resultData"]["errorNumber"], cmd["resultData"].get("description", "")


async def bind_load_control(peer: RawPeer) -> None:
    request = {
        "bindingRequest": {
            "clientAddress": {"device": RawPeer.ADDRESS, "entity": [1], "feature": 1},
            "serverAddress": {"entity": [1], "feature": 1},
            "serverFeatureType": "LoadControl",
        }
    }
    counter = await peer.send("call", *NM, {"nodeManagementBindingRequestCall": request}, source_feature=0)
    assert await expect_result(peer, counter) == (0, "")


CASES: list[tuple[str, str, tuple[list[int], int], dict[str, Any], int]] = [
    ("unknown feature", "read", ([1], 99), {"loadControlLimitListData": {}}, 4),
    ("unknown entity", "read", ([7, 1], 1), {"loadControlLimitListData": {}}, 4),
    ("unknown function", "read", LC, {"fooBarData": {}}, 6),
    ("function of another feature", "read", LC, {"measurementListData": {}}, 6),
    ("read on a client feature", "read", ([1], 4), {"deviceDiagnosisHeartbeatData": {}}, 7),
    ("write on a read-only function", "write", LC, {"loadControlLimitDescriptionListData": {}}, 1),
    ("write of an unknown function", "write", LC, {"somethingListData": {}}, 6),
    (
        "write without binding",
        "write",
        LC,
        {
            "loadControlLimitListData": {
                "loadControlLimitData": [{"limitId": 0, "isLimitActive": True, "value": {"number": 1, "scale": 0}}]
            }
        },
        1,
    ),
    ("call on a normal feature", "call", LC, {"loadControlLimitListData": {}}, 6),
    ("unknown call", "call", NM, {"nodeManagementFooCall": {}}, 6),
    ("two data elements", "read", LC, {"loadControlLimitListData": {}, "measurementListData": {}}, 6),
    ("no data element", "read", LC, {"function": "loadControlLimitListData"}, 6),
    ("function names another element", "read", LC, {"function": "x", "loadControlLimitListData": {}}, 1),
    ("filter not a list", "read", LC, {"filter": {"cmdControl": {}}, "loadControlLimitListData": {}}, 1),
    ("subscription request of the wrong shape", "call", NM, {"nodeManagementSubscriptionRequestCall": []}, 1),
    (
        "subscription request without addresses",
        "call",
        NM,
        {"nodeManagementSubscriptionRequestCall": {"subscriptionRequest": {}}},
        1,
    ),
    (
        "subscription to a feature that does not exist",
        "call",
        NM,
        {
            "nodeManagementSubscriptionRequestCall": {
                "subscriptionRequest": {
                    "clientAddress": {"entity": [1], "feature": 1},
                    "serverAddress": {"entity": [1], "feature": 42},
                }
            }
        },
        1,
    ),
    (
        "subscription with the wrong feature type",
        "call",
        NM,
        {
            "nodeManagementSubscriptionRequestCall": {
                "subscriptionRequest": {
                    "clientAddress": {"entity": [1], "feature": 1},
                    "serverAddress": {"entity": [1], "feature": 1},
                    "serverFeatureType": "Measurement",
                }
            }
        },
        1,
    ),
    (
        "subscription from a server feature of the peer",
        "call",
        NM,
        {
            "nodeManagementSubscriptionRequestCall": {
                "subscriptionRequest": {
                    "clientAddress": {"entity": [1], "feature": 3},
                    "serverAddress": {"entity": [1], "feature": 1},
                }
            }
        },
        1,
    ),
    (
        "subscription from a client of another feature type",
        "call",
        NM,
        {
            "nodeManagementSubscriptionRequestCall": {
                "subscriptionRequest": {
                    "clientAddress": {"entity": [1], "feature": 2},
                    "serverAddress": {"entity": [1], "feature": 1},
                }
            }
        },
        1,
    ),
    (
        "subscription to another device",
        "call",
        NM,
        {
            "nodeManagementSubscriptionRequestCall": {
                "subscriptionRequest": {
                    "clientAddress": {"entity": [1], "feature": 1},
                    "serverAddress": {"device": "d:_n:x_y-z", "entity": [1], "feature": 1},
                }
            }
        },
        1,
    ),
    (
        "binding to a client feature",
        "call",
        NM,
        {
            "nodeManagementBindingRequestCall": {
                "bindingRequest": {
                    "clientAddress": {"entity": [1], "feature": 1},
                    "serverAddress": {"entity": [1], "feature": 4},
                }
            }
        },
        1,
    ),
    (
        "notify into our server with a list of the wrong type",
        "notify",
        ([1], 4),
        {"deviceDiagnosisHeartbeatData": []},
        1,
    ),
    (
        "notify of a list function of the wrong shape",
        "notify",
        ([1], 4),
        {"measurementListData": {"measurementData": 5}},
        1,
    ),
    (
        "huge list in a notify",
        "notify",
        ([1], 4),
        {"measurementListData": {"measurementData": [{"measurementId": 1}] * 100_000}},
        1,
    ),
]


@pytest.mark.parametrize(("name", "classifier", "dest", "cmd", "number"), CASES, ids=[c[0] for c in CASES])
async def test_error_results(
    name: str, classifier: str, dest: tuple[list[int], int], cmd: dict[str, Any], number: int
) -> None:
    async with raw_peer() as (peer, _cs, backend):
        counter = await peer.send(classifier, *dest, cmd, source_feature=0 if dest == NM else 1)
        got, description = await expect_result(peer, counter)
        assert got == number, description
        assert description
        assert backend.limit_writes == []


async def test_unknown_destination_device_is_4() -> None:
    async with raw_peer() as (peer, cs, _backend):
        peer.cs_address = "d:_n:Someone_Else-1"
        counter = await peer.send("read", *LC, {"loadControlLimitListData": {}})
        assert (await expect_result(peer, counter))[0] == 4
        peer.cs_address = cs.address


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        "datagram",
        {"datagram": []},
        {"datagram": {"header": None}},
        {"datagram": {"header": {"cmdClassifier": "read"}}},
        {
            "datagram": {
                "header": {
                    "addressSource": {"entity": [1], "feature": 1},
                    "addressDestination": {"entity": [1], "feature": 1},
                    "msgCounter": -1,
                    "cmdClassifier": "read",
                }
            }
        },
        {
            "datagram": {
                "header": {
                    "addressSource": {"entity": "1", "feature": 1},
                    "addressDestination": {"entity": [1], "feature": 1},
                    "msgCounter": 1,
                    "cmdClassifier": "read",
                }
            }
        },
        {
            "datagram": {
                "header": {
                    "addressSource": {"entity": [1], "feature": 1},
                    "addressDestination": {"entity": [1], "feature": 1},
                    "msgCounter": 1,
                    "cmdClassifier": "shout",
                }
            }
        },
        {
            "datagram": {
                "header": {
                    "addressSource": {"entity": [1] * 1000, "feature": 1},
                    "addressDestination": {"entity": [1], "feature": 1},
                    "msgCounter": 1,
                    "cmdClassifier": "read",
                }
            }
        },
    ],
)
async def test_unanswerable_datagrams_are_dropped(message: Any) -> None:
    async with raw_peer() as (peer, cs, _backend):
        await peer.send_raw(message)
        await asyncio.sleep(0.05)
        assert next(iter(cs.peers)).dropped == 1


@pytest.mark.parametrize("payload", [None, [], {"cmd": []}, {"cmd": {}}, {"cmd": [5]}, {"cmd": ["x"] * 10000}])
async def test_payload_of_the_wrong_shape_gets_error_1(payload: Any) -> None:
    async with raw_peer() as (peer, cs, _backend):
        peer.counter += 1
        header = {
            "specificationVersion": "1.3.0",
            "addressSource": {"device": RawPeer.ADDRESS, "entity": [1], "feature": 1},
            "addressDestination": {"device": cs.address, "entity": [1], "feature": 1},
            "msgCounter": peer.counter,
            "cmdClassifier": "read",
        }
        await peer.send_raw({"datagram": {"header": header, "payload": payload}})
        assert (await expect_result(peer, peer.counter))[0] == 1


async def test_result_is_never_answered_with_a_result() -> None:
    async with raw_peer() as (peer, _cs, _backend):
        await peer.send("result", *LC, {"resultData": {"errorNumber": 1}})
        await peer.send("result", [9], 9, {"resultData": "garbage"})
        await asyncio.sleep(0.05)
        assert peer.inbox.empty()


async def test_ack_request_on_notify_is_answered_with_0() -> None:
    async with raw_peer() as (peer, _cs, backend):
        counter = await peer.send(
            "notify", [1], 4, {"deviceDiagnosisHeartbeatData": {"heartbeatCounter": 5}}, source_feature=3
        )
        assert await expect_result(peer, counter) == (0, "")
        assert backend.heartbeats == [("raw", 5)]


async def test_writes_with_binding_and_hostile_values() -> None:
    async with raw_peer() as (peer, _cs, backend):
        await bind_load_control(peer)
        bad_values: list[Any] = [
            {"number": 1e300, "scale": 0},
            {"number": 2**70, "scale": 0},
            {"number": 1, "scale": 500},
            "4200",
            None,
            {"number": -4200, "scale": 0},
        ]
        for value in bad_values:
            cmd = {
                "loadControlLimitListData": {
                    "loadControlLimitData": [{"limitId": 0, "isLimitActive": True, "value": value}]
                },
                "filter": [{"cmdControl": {"partial": {}}}],
            }
            number, _ = await expect_result(peer, await peer.send("write", *LC, cmd))
            assert number in (1, 7)
        assert backend.limit_writes == []
        assert (await backend.limit(Direction.CONSUME)) == PowerLimit(False, 0.0, None)
        good = {
            "loadControlLimitListData": {
                "loadControlLimitData": [{"limitId": 0, "isLimitActive": True, "value": {"number": 42, "scale": 2}}]
            },
            "filter": [{"cmdControl": {"partial": {}}}],
        }
        assert await expect_result(peer, await peer.send("write", *LC, good)) == (0, "")
        assert backend.limit_writes[-1][1] == PowerLimit(True, 4200.0, None)


async def test_subscriptions_are_bounded_and_duplicates_refused() -> None:
    async with raw_peer() as (peer, cs, _backend):

        def request(feature: int) -> dict[str, Any]:
            return {
                "nodeManagementSubscriptionRequestCall": {
                    "subscriptionRequest": {
                        "clientAddress": {"entity": [1], "feature": feature},
                        "serverAddress": {"entity": [1], "feature": 1},
                    }
                }
            }

        assert await expect_result(peer, await peer.send("call", *NM, request(1), source_feature=0)) == (0, "")
        number, text = await expect_result(peer, await peer.send("call", *NM, request(1), source_feature=0))
        assert (number, text) == (1, "requested subscription is already present")
        # features the CS does not know from discovery: accepted until the cap
        for fid in range(100, 100 + MAX_SUBSCRIPTIONS):
            await peer.send("call", *NM, request(fid), source_feature=0, ack=False)
        counter = await peer.send("call", *NM, request(5000), source_feature=0)
        assert (await expect_result(peer, counter))[0] == 3
        assert len(next(iter(cs.peers)).subscriptions) == MAX_SUBSCRIPTIONS
        # and they are listed in nodeManagementSubscriptionData
        counter = await peer.send("read", *NM, {"nodeManagementSubscriptionData": {}}, source_feature=0, ack=False)
        _, cmd = result_of(await peer.answer_to(counter))
        assert len(cmd["nodeManagementSubscriptionData"]["subscriptionEntry"]) == MAX_SUBSCRIPTIONS


async def test_remote_data_cache_is_bounded() -> None:
    async with raw_peer() as (peer, cs, _backend):
        for index in range(MAX_REMOTE_DATA):
            await peer.send("notify", [1], 4, {f"someData{index}": {}}, source_feature=3, ack=False)
        counter = await peer.send("notify", [1], 4, {"oneMoreData": {}}, source_feature=3)
        assert (await expect_result(peer, counter))[0] == 3
        assert len(next(iter(cs.peers)).remote_data) == MAX_REMOTE_DATA


async def test_binding_data_and_delete() -> None:
    async with raw_peer() as (peer, cs, _backend):
        await bind_load_control(peer)
        counter = await peer.send("read", *NM, {"nodeManagementBindingData": {}}, source_feature=0, ack=False)
        _, cmd = result_of(await peer.answer_to(counter))
        (entry,) = cmd["nodeManagementBindingData"]["bindingEntry"]
        assert entry["serverAddress"] == {"device": cs.address, "entity": [1], "feature": 1}
        assert entry["clientAddress"] == {"device": RawPeer.ADDRESS, "entity": [1], "feature": 1}
        delete = {
            "nodeManagementBindingDeleteCall": {
                "bindingDelete": {
                    "clientAddress": {"entity": [1], "feature": 1},
                    "serverAddress": {"entity": [1], "feature": 1},
                }
            }
        }
        assert await expect_result(peer, await peer.send("call", *NM, delete, source_feature=0)) == (0, "")
        assert cs.device.bindings == {}


async def test_peer_that_never_answers_discovery_is_closed() -> None:
    import smartgrid.spine.peer as peer_module

    backend = MemoryBackend()
    cs = ControllableSystem(backend, IDENTITY)
    cs_end, _silent_end = memory_pair("cs", "silent")
    old = peer_module.REQUEST_TIMEOUT_S
    peer_module.REQUEST_TIMEOUT_S = 0.2
    try:
        await asyncio.wait_for(cs.serve(cs_end), 5)  # returns: the connection was closed
    finally:
        peer_module.REQUEST_TIMEOUT_S = old
    assert cs_end.close_reason == "SPINE discovery failed"
    assert not cs.peers


async def test_use_case_notify_flood_does_not_pile_up_tasks() -> None:
    async with raw_peer() as (peer, cs, _backend):
        (cs_peer,) = cs.peers
        calls = []

        class SlowApp:
            async def on_peer_ready(self, peer: object) -> None:
                calls.append(peer)
                await asyncio.sleep(0.5)

            async def on_remote_data(self, *args: object) -> None:
                return None

            async def on_peer_closed(self, peer: object) -> None:
                return None

        cs.device.app = SlowApp()
        for _ in range(200):
            await peer.send("notify", *NM, {"nodeManagementUseCaseData": {"useCaseInformation": []}}, ack=False)
        await asyncio.sleep(0.1)
        assert len(calls) == 1 and len(cs_peer._tasks) <= 2
        cs.device.app = cs
