"""mDNS on loopback: two SHIP nodes announce `_ship._tcp` and find each other with the right TXT."""

from __future__ import annotations

import asyncio

import pytest

from smartgrid.ship.mdns import parse_service, txt_record
from smartgrid.tests.ship_helpers import make_node

OWN = "1" * 40
OTHER = "a" * 40
GOOD_TXT = {"txtvers": "1", "id": "X-1", "path": "/ship/", "ski": OTHER, "register": "false", "brand": "B"}


async def test_two_nodes_discover_each_other_on_loopback() -> None:
    a, store_a, _ = make_node("MdnsA", mdns=True)
    b, store_b, _ = make_node("MdnsB", mdns=True)
    await a.start()
    await b.start()
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while not (b.ski in a.discovered and a.ski in b.discovered):
            assert loop.time() < end, "the nodes did not find each other"
            await asyncio.sleep(0.1)
        seen = a.discovered[b.ski]
        assert (seen.host, seen.port) == ("127.0.0.1", b.port)
        assert seen.txt["txtvers"] == "1"
        assert seen.txt["path"] == "/ship/"
        assert seen.txt["id"] == "Test-MdnsB"
        assert seen.txt["ski"] == b.ski
        assert seen.txt["brand"] == "Test"
        assert seen.txt["model"] == "MdnsB"
        assert seen.txt["type"] == "EnergyManagementSystem"
        assert seen.txt["register"] == "false"
        assert seen.txt["cat"] == "2"
        assert seen.txt["serial"] == "1"
        assert a.ski not in a.discovered  # own announcement ignored
        assert store_a.discovered[b.ski].port == b.port
        # what was found can be dialled
        store_b.trust(a.ski)
        conn = await a.connect(seen.host, seen.port, seen.ski, path=seen.path)
        assert conn.remote_ship_id == "Test-MdnsB"
    finally:
        await b.stop()
        await a.stop()


def test_txt_record_truncates_and_lists_categories() -> None:
    txt = txt_record(
        ship_id="id",
        ski=OWN,
        device={"brand": "B" * 40, "model": "M", "type": "T", "categories": [2, 5]},
        register=True,
    )
    assert txt["brand"] == "B" * 32
    assert txt["cat"] == "2,5" and txt["register"] == "true" and "serial" not in txt


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({}, True),
        ({"txtvers": "2"}, False),
        ({"register": "yes"}, False),
        ({"ski": OWN}, False),
        ({"ski": "nonsense"}, False),
        ({"ski": OTHER.upper()}, True),
        ({"id": None}, False),
        ({"path": None}, False),
        ({"register": None}, False),
    ],
)
def test_receiver_rules(change: dict, kept: bool) -> None:
    txt = {**GOOD_TXT, **change}
    txt = {k: v for k, v in txt.items() if v is not None}
    found = parse_service("x._ship._tcp.local.", txt, ["127.0.0.1"], 4712, OWN)
    assert (found is not None) is kept
    if found:
        assert found.ski == OTHER


def test_ipv4_before_ipv6_and_no_link_local() -> None:
    found = parse_service("x", GOOD_TXT, ["fe80::1", "2001:db8::1", "192.0.2.7"], 4712, OWN)
    assert found is not None and found.host == "192.0.2.7"
    found = parse_service("x", GOOD_TXT, ["fe80::1", "2001:db8::1"], 4712, OWN)
    assert found is not None and found.host == "2001:db8::1"
    assert parse_service("x", GOOD_TXT, ["fe80::1"], 4712, OWN) is None
