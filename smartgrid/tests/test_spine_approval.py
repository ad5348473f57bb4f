"""Write approval rules of the controllable system, table-driven (no connection needed)."""

from typing import Any

import pytest

from smartgrid.spine.backend import Direction, PowerLimit
from smartgrid.spine.cs import check_configuration_write, check_limit_write
from smartgrid.spine.model import Cmd, SpineError

CURRENT = {
    "loadControlLimitData": [
        {
            "limitId": 0,
            "isLimitChangeable": True,
            "isLimitActive": True,
            "timePeriod": {"endTime": "PT10M"},
            "value": {"number": 5000, "scale": 0},
        },
        {"limitId": 1, "isLimitChangeable": True, "isLimitActive": False, "value": {"number": 0, "scale": 0}},
    ]
}


def limit_cmd(items: list[Any], partial: bool = True, delete: dict[str, Any] | None = None) -> Cmd:
    return Cmd("loadControlLimitListData", {"loadControlLimitData": items}, partial, delete, {})


def delete_period(limit_id: Any) -> dict[str, Any]:
    return {
        "cmdControl": {"delete": {}},
        "loadControlLimitListDataSelectors": {"limitId": limit_id},
        "loadControlLimitDataElements": {"timePeriod": {}},
    }


def sn(number: Any, scale: Any = 0) -> dict[str, Any]:
    return {"number": number, "scale": scale}


LIMIT_CASES = [
    # (name, cmd, expected writes or error number)
    (
        "LPC 4.2 kW for 15 min",
        limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(4200), "timePeriod": {"endTime": "PT15M"}}]),
        [(Direction.CONSUME, PowerLimit(True, 4200.0, 900.0))],
    ),
    (
        "LPC 0 W allowed",
        limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(0), "timePeriod": {"endTime": "PT1M"}}]),
        [(Direction.CONSUME, PowerLimit(True, 0.0, 60.0))],
    ),
    (
        "LPC without timePeriod keeps the old end (partial merge)",
        limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(3000)}]),
        [(Direction.CONSUME, PowerLimit(True, 3000.0, 600.0))],
    ),
    (
        "LPC delete timePeriod: no end",
        limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(3000)}], delete=delete_period(0)),
        [(Direction.CONSUME, PowerLimit(True, 3000.0, None))],
    ),
    (
        "LPC deactivate only",
        limit_cmd([{"limitId": 0, "isLimitActive": False}], delete=delete_period(0)),
        [(Direction.CONSUME, PowerLimit(False, 5000.0, None))],
    ),
    (
        "LPP -3 kW (passive sign)",
        limit_cmd([{"limitId": 1, "isLimitActive": True, "value": sn(-3, 3)}]),
        [(Direction.PRODUCE, PowerLimit(True, 3000.0, None))],
    ),
    (
        "both in one write",
        limit_cmd(
            [
                {"limitId": 0, "isLimitActive": False, "value": sn(1)},
                {"limitId": 1, "isLimitActive": True, "value": sn(-15, -1)},
            ]
        ),
        [(Direction.CONSUME, PowerLimit(False, 1.0, 600.0)), (Direction.PRODUCE, PowerLimit(True, 1.5, None))],
    ),
    ("negative LPC", limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(-1)}]), 7),
    ("positive LPP", limit_cmd([{"limitId": 1, "isLimitActive": True, "value": sn(3000)}]), 7),
    (
        "LPP positive among a valid LPC",
        limit_cmd(
            [
                {"limitId": 0, "isLimitActive": True, "value": sn(1)},
                {"limitId": 1, "isLimitActive": True, "value": sn(1)},
            ]
        ),
        7,
    ),
    ("unknown limitId", limit_cmd([{"limitId": 7, "isLimitActive": True, "value": sn(1)}]), 7),
    ("limitId not a number", limit_cmd([{"limitId": "0", "isLimitActive": True, "value": sn(1)}]), 7),
    ("isLimitActive a string", limit_cmd([{"limitId": 0, "isLimitActive": "yes", "value": sn(1)}]), 1),
    ("value a float", limit_cmd([{"limitId": 0, "isLimitActive": True, "value": 4200.0}]), 1),
    ("value number a string", limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn("4200")}]), 1),
    (
        "endTime garbage",
        limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(1), "timePeriod": {"endTime": "soon"}}]),
        1,
    ),
    ("timePeriod a list", limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(1), "timePeriod": []}]), 1),
    ("empty write", limit_cmd([]), 1),
    ("items not objects", limit_cmd([1, 2]), 1),
    ("huge list", limit_cmd([{"limitId": 0, "isLimitActive": True, "value": sn(1)}] * 10_000), 1),
    ("data not an object", Cmd("loadControlLimitListData", [], True, None, {}), 1),
    (
        "delete of the value",
        limit_cmd(
            [],
            delete={
                "cmdControl": {"delete": {}},
                "loadControlLimitListDataSelectors": {"limitId": 0},
                "loadControlLimitDataElements": {"value": {}},
            },
        ),
        7,
    ),
]


@pytest.mark.parametrize(("name", "cmd", "expected"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limit_write_rules(name: str, cmd: Cmd, expected: Any) -> None:
    if isinstance(expected, int):
        with pytest.raises(SpineError) as caught:
            check_limit_write(CURRENT, cmd)
        assert caught.value.number == expected
        assert caught.value.description
    else:
        writes = check_limit_write(CURRENT, cmd)
        assert [(d, lim.active, lim.value_w) for d, lim in writes] == [
            (d, lim.active, lim.value_w) for d, lim in expected
        ]
        for (_, got), (_, want) in zip(writes, expected, strict=True):
            if want.duration_s is None:
                assert got.duration_s is None
            else:
                assert got.duration_s == pytest.approx(want.duration_s, abs=1)


def kv_cmd(items: list[Any], delete: dict[str, Any] | None = None) -> Cmd:
    return Cmd("deviceConfigurationKeyValueListData", {"deviceConfigurationKeyValueData": items}, True, delete, {})


def scaled(key_id: int, watts: Any) -> dict[str, Any]:
    return {"keyId": key_id, "value": {"scaledNumber": sn(watts)}}


def duration(text: Any) -> dict[str, Any]:
    return {"keyId": 1, "value": {"duration": text}}


CONFIG_CASES = [
    ("failsafe consumption 4.2 kW", kv_cmd([scaled(0, 4200)]), ({Direction.CONSUME: 4200.0}, None)),
    ("failsafe production 0 W", kv_cmd([scaled(2, 0)]), ({Direction.PRODUCE: 0.0}, None)),
    ("duration 2 h (lower bound)", kv_cmd([duration("PT2H")]), ({}, 7200.0)),
    ("duration 24 h (upper bound)", kv_cmd([duration("P1D")]), ({}, 86400.0)),
    ("value and duration", kv_cmd([scaled(0, 5000), duration("PT3H")]), ({Direction.CONSUME: 5000.0}, 10800.0)),
    ("duration 1 h", kv_cmd([duration("PT1H")]), 7),
    ("duration 1 h 59 min 59 s", kv_cmd([duration("PT1H59M59S")]), 7),
    ("duration 24 h + 1 s", kv_cmd([duration("PT24H1S")]), 7),
    ("negative consumption failsafe", kv_cmd([scaled(0, -1)]), 7),
    ("negative production failsafe", kv_cmd([scaled(2, -4200)]), 7),
    ("valid value with a bad duration changes nothing", kv_cmd([scaled(0, 4200), duration("PT1H")]), 7),
    ("unknown keyId", kv_cmd([scaled(9, 1)]), 7),
    ("duration given as number", kv_cmd([{"keyId": 1, "value": {"scaledNumber": sn(7200)}}]), 1),
    ("power given as duration", kv_cmd([{"keyId": 0, "value": {"duration": "PT2H"}}]), 1),
    ("duration not ISO", kv_cmd([duration("2 hours")]), 1),
    ("value missing", kv_cmd([{"keyId": 0}]), 1),
    ("empty", kv_cmd([]), 1),
    ("delete filter", kv_cmd([], delete={"cmdControl": {"delete": {}}}), 7),
]


@pytest.mark.parametrize(("name", "cmd", "expected"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_configuration_write_rules(name: str, cmd: Cmd, expected: Any) -> None:
    if isinstance(expected, int):
        with pytest.raises(SpineError) as caught:
            check_configuration_write(cmd)
        assert caught.value.number == expected
    else:
        assert check_configuration_write(cmd) == expected
