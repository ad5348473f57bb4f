"""Golden JSON of what the controllable system sends, cross-checked with the shapes eebus-go
v0.7.0 / spine-go produce (and a real device's LPC limit description). Regenerate with
SPINE_GOLDEN_UPDATE=1 after a deliberate change, and review the diff."""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from smartgrid.spine.backend import MemoryBackend
from smartgrid.spine.cs import ControllableSystem
from smartgrid.spine.transport import memory_pair
from smartgrid.tests.spine_helpers import GRID, IDENTITY, RawPeer, result_of

GOLDEN = Path(__file__).parent / "golden"


async def read_from_cs(entity: list[int], feature: int, function: str) -> dict[str, Any]:
    cs = ControllableSystem(MemoryBackend(grid=GRID), IDENTITY)
    cs_end, raw_end = memory_pair("cs", "raw")
    task = asyncio.create_task(cs.serve(cs_end))
    peer = RawPeer(raw_end)
    await asyncio.sleep(0.05)
    counter = await peer.send("read", entity, feature, {function: {}}, source_feature=0, ack=False)
    message = await peer.answer_to(counter)
    await peer.close()
    await task
    header = message["datagram"]["header"]
    assert header["cmdClassifier"] == "reply" and header["msgCounterReference"] == counter
    assert header["specificationVersion"] == "1.3.0"
    assert header["addressSource"] == {"device": cs.address, "entity": entity, "feature": feature}
    return message


def check_golden(name: str, message: dict[str, Any]) -> None:
    path = GOLDEN / name
    text = json.dumps(message, indent=2) + "\n"
    if os.environ.get("SPINE_GOLDEN_UPDATE"):
        path.write_text(text)
    expected = json.loads(path.read_text())
    # msgCounter depends on the connect flow's order; everything else is fixed
    for m in (expected, message):
        m["datagram"]["header"].pop("msgCounter")
        m["datagram"]["header"].pop("msgCounterReference")
    assert message == expected
    # key order matters to SHIP's EEBus JSON (XSD sequence order)
    assert json.dumps(message) == json.dumps(expected)


async def test_detailed_discovery_reply() -> None:
    message = await read_from_cs([0], 0, "nodeManagementDetailedDiscoveryData")
    check_golden("spine_cs_detailed_discovery.json", json.loads(json.dumps(message)))
    data = message["datagram"]["payload"]["cmd"][0]["nodeManagementDetailedDiscoveryData"]
    assert data["specificationVersionList"] == {"specificationVersion": ["1.3.0"]}
    assert data["deviceInformation"] == {
        "description": {
            "deviceAddress": {"device": "d:_n:KOSTAL_KSEM-71234567"},
            "deviceType": "EnergyManagementSystem",
            "networkFeatureSet": "smart",
        }
    }
    features = {
        (tuple(f["description"]["featureAddress"]["entity"]), f["description"]["featureAddress"]["feature"]): f[
            "description"
        ]
        for f in data["featureInformation"]
    }
    assert features[((0,), 0)]["featureType"] == "NodeManagement" and features[((0,), 0)]["role"] == "special"
    assert features[((0,), 1)]["featureType"] == "DeviceClassification"
    load_control = features[((1,), 1)]
    assert (load_control["featureType"], load_control["role"]) == ("LoadControl", "server")
    ops = {f["function"]: f["possibleOperations"] for f in load_control["supportedFunction"]}
    # as in the evcc#15633 capture: read, and write with partial
    assert ops == {
        "loadControlLimitDescriptionListData": {"read": {}},
        "loadControlLimitListData": {"read": {}, "write": {"partial": {}}},
    }
    kinds = {(d["featureType"], d["role"]) for d in features.values() if d["featureAddress"]["entity"] == [1]}
    assert kinds == {
        ("LoadControl", "server"),
        ("DeviceConfiguration", "server"),
        ("DeviceDiagnosis", "server"),
        ("DeviceDiagnosis", "client"),
        ("ElectricalConnection", "server"),
        ("Measurement", "server"),
    }
    assert [e["description"]["entityType"] for e in data["entityInformation"]] == [
        "DeviceInformation",
        "CEM",
        "GridConnectionPointOfPremises",
    ]


async def test_limit_descriptions_match_the_real_device_example() -> None:
    message = await read_from_cs([1], 1, "loadControlLimitDescriptionListData")
    check_golden("spine_cs_limit_descriptions.json", json.loads(json.dumps(message)))
    items = message["datagram"]["payload"]["cmd"][0]["loadControlLimitDescriptionListData"][
        "loadControlLimitDescriptionData"
    ]
    # evcc#32245 (Nibe), array form [{"limitId":0},{"limitType":...},...] == this object in this order
    nibe = [
        {"limitId": 0},
        {"limitType": "signDependentAbsValueLimit"},
        {"limitCategory": "obligation"},
        {"limitDirection": "consume"},
        {"measurementId": 0},
        {"unit": "W"},
        {"scopeType": "activePowerLimit"},
    ]
    assert [{k: v} for k, v in items[0].items()] == nibe
    assert items[1] == {**items[0], "limitId": 1, "limitDirection": "produce"}


@pytest.mark.parametrize(
    ("entity", "feature", "function", "golden"),
    [
        ([1], 1, "loadControlLimitListData", "spine_cs_limits.json"),
        ([1], 2, "deviceConfigurationKeyValueDescriptionListData", "spine_cs_key_value_descriptions.json"),
        ([1], 2, "deviceConfigurationKeyValueListData", "spine_cs_key_values.json"),
        ([1], 5, "electricalConnectionCharacteristicListData", "spine_cs_characteristics.json"),
        ([0], 0, "nodeManagementUseCaseData", "spine_cs_use_cases.json"),
        ([2], 2, "measurementDescriptionListData", "spine_cs_mgcp_measurement_descriptions.json"),
        ([2], 2, "measurementListData", "spine_cs_mgcp_measurements.json"),
    ],
)
async def test_served_data(entity: list[int], feature: int, function: str, golden: str) -> None:
    check_golden(golden, await read_from_cs(entity, feature, function))


async def test_limit_list_initial_data_as_eebus_go() -> None:
    message = await read_from_cs([1], 1, "loadControlLimitListData")
    _, cmd = result_of(message)
    assert cmd["loadControlLimitListData"]["loadControlLimitData"][0] == {
        "limitId": 0,
        "isLimitChangeable": True,
        "isLimitActive": False,
        "value": {"number": 0, "scale": 0},
    }


async def test_mgcp_chain_that_eebus_go_follows() -> None:
    """eebus-go drops a measurement unless measurement -> parameter description -> description
    exists with positiveEnergyDirection consume; per-phase values need acMeasuredPhases a/b/c."""

    def data(message: dict[str, Any]) -> Any:
        return next(iter(message["datagram"]["payload"]["cmd"][0].values()))

    descriptions = data(await read_from_cs([2], 2, "measurementDescriptionListData"))["measurementDescriptionData"]
    params = data(await read_from_cs([2], 1, "electricalConnectionParameterDescriptionListData"))[
        "electricalConnectionParameterDescriptionData"
    ]
    connections = data(await read_from_cs([2], 1, "electricalConnectionDescriptionListData"))[
        "electricalConnectionDescriptionData"
    ]
    by_connection = {c["electricalConnectionId"]: c for c in connections}
    by_measurement = {p["measurementId"]: p for p in params}
    scopes: dict[str, list[str | None]] = {}
    for description in descriptions:
        assert description["commodityType"] == "electricity"
        param = by_measurement[description["measurementId"]]
        assert by_connection[param["electricalConnectionId"]]["positiveEnergyDirection"] == "consume"
        scopes.setdefault(description["scopeType"], []).append(param.get("acMeasuredPhases"))
    assert scopes == {
        "acPowerTotal": ["abc"],
        "gridFeedIn": [None],
        "gridConsumption": [None],
        "acCurrent": ["a", "b", "c"],
        "acVoltage": ["a", "b", "c"],
        "acFrequency": [None],
    }
