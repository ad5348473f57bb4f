"""The installer's plant list (issue 18.3): status at a glance from the live snapshots, search,
filters and pages of 25, on the page (``/plants/``) and in the API (``/api/v1/plants/status``),
only plants the person has a role on, with a number of queries and Redis calls that does not
grow with the plants."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from energy.gridlimit import DirectionStatus, GridLimitStatus
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState, WallboxState
from meter.models import Meter
from plant import plantlist
from plant.models import Plant
from portal.models import Membership
from tests.pages import publish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def state(plant_id: int, *, at: dt.datetime, meter_online: bool = True, inverter_online: bool = True,
          charging: int = 0, limited: bool = False, grid_w: float = 1234.0) -> PlantState:  # fmt: skip
    boxes = tuple(
        WallboxState(
            name=f"Box {n}",
            type="enector_11",
            status=DeviceStatus(name=f"Box {n}", online=True),
            state="charging",
            mode="power",
            configured_mode="power",
            vehicle_connected=True,
        )
        for n in range(charging)
    )
    limits = None
    if limited:
        since = at - dt.timedelta(minutes=5)
        limits = GridLimitStatus(
            consume=DirectionStatus(state="limited", since=since, limit_w=4200.0),
            produce=DirectionStatus(state="unlimited_controlled", since=since),
        )
    return PlantState(
        plant_id=plant_id,
        timestamp=at,
        sequence=1,
        meter=None,
        meter_status=DeviceStatus(name="meter", online=meter_online, error="" if meter_online else "timeout"),
        flow=EnergyFlow(
            grid_power_w=grid_w,
            pv_power_w=0.0,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=grid_w,
            wallbox_power_w=0.0,
        ),
        totals=EnergyCounters(),
        devices=(DeviceStatus(name="Roof", online=inverter_online, error="" if inverter_online else "refused"),),
        wallboxes=boxes,
        grid_limits=limits,
    )


def data(plant_state: PlantState) -> dict[str, Any]:
    from energy import snapshot

    return snapshot.to_data(plant_state)


# --- one snapshot, summarised (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (None, {"status": "stale", "cycle_age_s": None, "meter_online": None, "devices_in_error": ()}),
        ("garbage", {"status": "stale", "cycle_age_s": None}),
        ({"timestamp": "not a time"}, {"status": "stale", "cycle_age_s": None}),
        (data(state(1, at=NOW - dt.timedelta(seconds=1))),
         {"status": "ok", "cycle_age_s": 1.0, "meter_online": True, "grid_power_w": 1234.0, "devices_in_error": ()}),
        (data(state(1, at=NOW - dt.timedelta(seconds=30))), {"status": "stale", "cycle_age_s": 30.0}),
        (data(state(1, at=NOW, meter_online=False)),
         {"status": "error", "meter_online": False, "grid_power_w": None, "devices_in_error": ("meter",)}),
        (data(state(1, at=NOW, inverter_online=False)), {"status": "error", "devices_in_error": ("Roof",)}),
        (data(state(1, at=NOW - dt.timedelta(seconds=60), inverter_online=False)),
         {"status": "stale", "devices_in_error": ("Roof",)}),
        (data(state(1, at=NOW, charging=2)), {"status": "ok", "cars_charging": 2, "limits_active": False}),
        (data(state(1, at=NOW, limited=True)), {"status": "ok", "limits_active": True}),
        ({**data(state(1, at=NOW)), "wallboxes": [{"name": "Box", "error_code": 2011, "status": {"online": True}}]},
         {"status": "error", "devices_in_error": ("Box",)}),
    ],
)  # fmt: skip
def test_a_snapshot_summarised(snapshot: Any, expected: dict[str, Any]) -> None:
    summary = dataclasses.asdict(plantlist.summarise(snapshot, NOW, max_age_s=5.0))
    assert {key: summary[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("query", "problem"),
    [({"status": "broken"}, "status"), ({"limits": "1"}, "limits"), ({"charging": "maybe"}, "charging"),
     ({"q": "x" * 101}, "q"), ({"page": "0"}, "page"), ({"page": "²"}, "page")],
)  # fmt: skip
def test_a_bad_parameter_is_refused_naming_it(query: dict[str, str], problem: str) -> None:
    def parse() -> None:
        plantlist.parse_filters(query)
        plantlist.page_number(query)

    with pytest.raises(plantlist.BadQueryParameter) as refused:
        parse()
    assert refused.value.name == problem


# --- many plants ----------------------------------------------------------------------------------


def make_fleet(count: int, now: dt.datetime) -> list[Plant]:
    """``count`` plants: every 10th without a snapshot (stale), every 7th with its meter offline,
    every 5th limited by the grid operator, every 3rd with a car charging.

    The snapshots are stamped two minutes after ``now``: a snapshot older than 5 s is stale, and a
    slow test must not see its fresh plants turn stale (a time ahead counts as age 0)."""
    now += dt.timedelta(minutes=2)
    plants = Plant.objects.bulk_create(Plant(name=f"Hof {n:03d}", serial_number=f"KSEM-{n:010d}") for n in range(count))
    Meter.objects.bulk_create(Meter(plant=p, host=f"10.1.{n // 250}.{n % 250 + 1}") for n, p in enumerate(plants))
    for n, plant in enumerate(plants):
        if n % 10 == 9:
            continue
        publish(state(plant.pk, at=now, meter_online=n % 7 != 6, charging=int(n % 3 == 0), limited=n % 5 == 0))
    return plants


def person(name: str, plants: list[Plant], role: str = "installer") -> Client:
    user = get_user_model().objects.create_user(name, password="Person-Pass-1")
    Membership.objects.bulk_create(Membership(user=user, plant=p, role=role) for p in plants)
    client = Client()
    client.force_login(user)
    return client


def api(client: Client, **query: Any) -> dict[str, Any]:
    response = client.get("/api/v1/plants/status", query)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def every_row(client: Client, **query: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first = api(client, **query)
    for number in range(1, first["pages"] + 1):
        rows += api(client, **query, page=number)["results"]
    return rows


def test_the_api_pages_filters_and_shows_only_the_persons_plants() -> None:
    from django.utils import timezone

    plants = make_fleet(60, timezone.now())
    mine = plants[:55]
    client = person("ina", mine)

    first = api(client)
    assert (first["count"], first["pages"], first["per_page"], len(first["results"])) == (55, 3, 25, 25)
    everything = every_row(client)
    assert [row["id"] for row in everything] == [p.pk for p in mine], "each of her plants once, by name"
    stale = every_row(client, status="stale")
    assert {row["id"] for row in stale} == {mine[n].pk for n in range(55) if n % 10 == 9}
    errors = every_row(client, status="error")
    assert {row["id"] for row in errors} == {mine[n].pk for n in range(55) if n % 7 == 6 and n % 10 != 9}
    assert all(row["devices_in_error"] == ["meter"] and row["meter_online"] is False for row in errors)
    ok = every_row(client, status="ok")
    assert len(ok) + len(errors) + len(stale) == 55
    limited = every_row(client, limits="yes")
    assert {row["id"] for row in limited} == {mine[n].pk for n in range(55) if n % 5 == 0 and n % 10 != 9}
    charging_ok = every_row(client, charging="yes", status="ok")
    assert {row["id"] for row in charging_ok} == {
        mine[n].pk for n in range(55) if n % 3 == 0 and n % 10 != 9 and n % 7 != 6
    }
    assert all(row["cars_charging"] == 1 for row in charging_ok)
    assert every_row(client, charging="no", limits="no", status="stale") == stale  # stale: nothing known


def test_search_by_name_serial_address_and_id() -> None:
    from django.utils import timezone

    plants = make_fleet(30, timezone.now())
    client = person("ina", plants[:20])
    assert [row["name"] for row in api(client, q="hof 01")["results"]] == [f"Hof 01{n}" for n in range(10)]
    assert [row["id"] for row in api(client, q="KSEM-0000000007")["results"]] == [plants[7].pk]
    assert [row["id"] for row in api(client, q="10.1.0.13")["results"]] == [plants[12].pk]
    assert [row["id"] for row in api(client, q=f"#{plants[3].pk}")["results"]] == [plants[3].pk]
    assert api(client, q=f"#{plants[25].pk}")["results"] == [], "another's plant is not found by its id"
    assert api(client, q="Hof 025")["count"] == 0


def test_refusals_name_the_parameter() -> None:
    client = person("ina", [Plant.objects.create(name="Solo")])
    for query, name in [({"status": "nope"}, "status"), ({"page": "x"}, "page"), ({"limits": "true"}, "limits")]:
        response = client.get("/api/v1/plants/status", query)
        assert response.status_code == 400
        assert name in response.content.decode()
        assert client.get("/plants/", query).status_code == 400


def test_a_person_without_any_role_sees_no_plant() -> None:
    Plant.objects.create(name="Fremd")
    client = person("nora", [])
    assert api(client)["results"] == []
    assert client.get("/plants/").status_code == 403


def test_queries_and_redis_calls_do_not_grow_with_the_plants(monkeypatch: pytest.MonkeyPatch) -> None:
    """No query per row and one MGET per page: counted with 30 and with 120 plants (both more
    than the header's switcher lists, which costs a small fleet one query more)."""
    from django.utils import timezone

    calls: list[str] = []
    original = redis.Redis.execute_command

    def counting(self: redis.Redis, *args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return original(self, *args, **options)

    counts = {}
    plants = make_fleet(120, timezone.now())
    for size in (30, 120):
        client = person(f"ina{size}", plants[:size])
        for query in ({}, {"status": "error"}):
            client.get("/plants/", query)  # the session and the caches settle
            monkeypatch.setattr(redis.Redis, "execute_command", counting)
            calls.clear()
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/plants/", query).status_code == 200
            monkeypatch.setattr(redis.Redis, "execute_command", original)
            counts[size, tuple(query)] = (len(queries), calls.count("MGET"))
    assert counts[30, ()] == counts[120, ()]
    assert counts[30, ("status",)] == counts[120, ("status",)]
    assert counts[120, ()][1] == counts[120, ("status",)][1] == 1


def test_the_page_in_german_with_links_to_each_plants_pages() -> None:
    from django.utils import timezone

    plants = make_fleet(30, timezone.now())
    client = person("ina", plants)
    client.cookies["django_language"] = "de"
    page = client.get("/plants/", {"status": "error"}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Geräte mit Fehler" in page and "Kein aktueller Zyklus" in page and "Seite 1 von 1" in page
    table = page.split('data-testid="plant-table"')[1]
    assert "Anlagen" in page and "offline" in table and "Bezug" not in table  # meter offline: no power shown
    assert f'/meter/?plant={plants[6].pk}"' in page and f"/?plant={plants[6].pk}" in page
    assert page.count('data-testid="plant-row"') == len([n for n in range(30) if n % 7 == 6 and n % 10 != 9])
    # The menu offers the list to a person with several plants.
    assert 'data-testid="menu-plants"' in page


def test_beyond_25_plants_the_header_links_to_the_list_instead_of_listing_them() -> None:
    from django.utils import timezone

    plants = make_fleet(30, timezone.now())
    few = person("fea", plants[:25]).get("/").content.decode()
    assert 'data-testid="plant-switcher"' in few and few.count("<option value=") >= 25
    many = person("ina", plants).get(f"/?plant={plants[27].pk}").content.decode()
    assert 'data-testid="plant-switcher"' not in many
    assert 'data-testid="plant-switcher-link"' in many and "Hof 027 ▾" in many
    assert "Hof 028" not in many, "no other plant is rendered into the page"
