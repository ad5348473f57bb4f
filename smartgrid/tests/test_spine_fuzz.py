"""Random datagrams into the controllable system: the engine never raises, answers only with
results or replies, and a limit the backend receives is never of the wrong sign."""

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartgrid.spine.backend import Direction, MemoryBackend
from smartgrid.spine.cs import ControllableSystem
from smartgrid.spine.model import Address
from smartgrid.spine.peer import Peer
from smartgrid.spine.transport import memory_pair
from smartgrid.tests.spine_helpers import IDENTITY

FUNCTIONS = [
    "loadControlLimitListData",
    "loadControlLimitDescriptionListData",
    "deviceConfigurationKeyValueListData",
    "deviceConfigurationKeyValueDescriptionListData",
    "deviceDiagnosisHeartbeatData",
    "measurementListData",
    "electricalConnectionCharacteristicListData",
    "nodeManagementDetailedDiscoveryData",
    "nodeManagementUseCaseData",
    "nodeManagementSubscriptionRequestCall",
    "nodeManagementBindingRequestCall",
    "nodeManagementSubscriptionDeleteCall",
    "nodeManagementBindingDeleteCall",
    "resultData",
    "unknownThing",
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=24), inner, max_size=4),
    max_leaves=25,
)
ITEM_KEYS = st.sampled_from(
    [
        "limitId",
        "isLimitActive",
        "value",
        "timePeriod",
        "keyId",
        "number",
        "scale",
        "endTime",
        "duration",
        "scaledNumber",
    ]
)
ITEM = st.dictionaries(
    ITEM_KEYS,
    JSON
    | st.integers(0, 3)
    | st.builds(lambda n, s: {"number": n, "scale": s}, st.integers(-(10**6), 10**6), st.integers(-5, 5)),
    max_size=5,
)
DATA = (
    JSON
    | st.builds(lambda items: {"loadControlLimitData": items}, st.lists(ITEM, max_size=3))
    | st.builds(lambda items: {"deviceConfigurationKeyValueData": items}, st.lists(ITEM, max_size=3))
)
FILTERS = st.lists(
    st.sampled_from([{"cmdControl": {"partial": {}}}, {"cmdControl": {"delete": {}}}, {"cmdControl": 5}, "x", {}]),
    max_size=2,
)
DESTINATIONS = st.sampled_from(
    [((0,), 0), ((0,), 1), ((1,), 1), ((1,), 2), ((1,), 3), ((1,), 4), ((1,), 5), ((2,), 2), ((9,), 9)]
)


async def run_one(
    classifier: str, dest: tuple[tuple[int, ...], int], function: str, data: Any, filters: Any, ack: Any
) -> None:
    backend = MemoryBackend()
    cs = ControllableSystem(backend, IDENTITY)
    await cs.refresh()
    cs_end, far_end = memory_pair("cs", "fuzz")
    peer = Peer(cs.device, cs_end)
    peer.remote_address = "d:_n:Fuzz_Box-1"
    client = Address(peer.remote_address, (1,), 1)
    cs.device.bindings[cs.load_control.key] = (peer, client)
    cs.device.bindings[cs.configuration.key] = (peer, client)
    cmd: dict[str, Any] = {function: data}
    if filters:
        cmd["filter"] = filters
    header: dict[str, Any] = {
        "addressSource": {"device": peer.remote_address, "entity": [1], "feature": 1},
        "addressDestination": {"entity": list(dest[0]), "feature": dest[1]},
        "msgCounter": 7,
        "cmdClassifier": classifier,
        "ackRequest": ack,
    }
    await peer.handle({"datagram": {"header": header, "payload": {"cmd": [cmd]}}})
    while not far_end._inbox.empty():
        answer = far_end._inbox.get_nowait()
        answer_header = answer["datagram"]["header"]
        assert answer_header["cmdClassifier"] in ("result", "reply")
        assert answer_header["msgCounterReference"] == 7
        result = answer["datagram"]["payload"]["cmd"][0].get("resultData", {})
        assert result.get("description") != "internal error"  # an uncaught exception in the engine
    for direction, limit, _ski in backend.limit_writes:
        assert limit.value_w >= 0
        if direction is Direction.CONSUME:
            assert backend.limits[direction].value_w >= 0
    assert backend.failsafe_s >= 7200 and all(v >= 0 for v in backend.failsafe_w.values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    classifier=st.sampled_from(["read", "write", "call", "notify", "reply", "result"]),
    dest=DESTINATIONS,
    function=st.sampled_from(FUNCTIONS),
    data=DATA,
    filters=FILTERS,
    ack=st.sampled_from([True, False, None, "yes"]),
)
def test_random_datagrams_never_break_the_engine(
    classifier: str, dest: tuple[tuple[int, ...], int], function: str, data: Any, filters: Any, ack: Any
) -> None:
    asyncio.run(run_one(classifier, dest, function, data, filters, ack))
