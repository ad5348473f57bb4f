"""Per-plant permissions with many plants (issue 18.3, the second check): five plants, each with
everything a plant can have, an installer of its own and that installer's access tokens. Nobody
of plant A reads or changes plant B, on any route, with a session or a bearer token.

The sweep of ``test_plant_isolation`` (every HTTP route of the URL configuration, GET, POST, PUT,
DELETE) runs here twice in a rotation over the plants, so its cost stays that of one sweep each:
route *r* is aimed at plant ``r % 5`` by the installer of another plant (a different one as *r*
grows), and an answer must be a refusal carrying none of the strings of any plant but the
requester's own.

- **sessions**: every id of the target plant, ``?plant=<target>``;
- **admin tokens** (``Authorization: Bearer``; an admin token opens the pages too, ACC-5): where
  a route names an object (an inverter, a wallbox, a token, a person), the ``plant_id`` and
  ``?plant=`` of the requester's *own* plant with the target's object
  (``/api/v1/plants/<own>/inverters/<target's inverter>``), the way an object of another plant
  is reached through one's own plant; a route that names only a plant is asked for the target.

Then, for every ordered pair of the five plants: the exports (CSV, the phase-switching log, the
Modbus configuration), the API's current values through the web process's fast path, the live
websocket, and the choice of the plant the Modbus slave serves.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from access.models import AccessToken
from access.services import create_token
from access.tests.test_plant_isolation import (
    METHODS,
    NO_PLANT_DATA,
    ROUTE_PARAMETER,
    _client,
    _fingerprint,
    _path,
    _plant,
    _refused,
    _routes,
    _state,
)
from events.models import Event
from modbus.models import ClientCertificate, MasterTarget, ModbusSettings
from plant.models import Plant
from portal.models import Membership
from portal.services import DEVICE_USERNAME, ensure_device_user
from tests.pages import publish

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

# (name, device prefix, address prefix, grid power): every one a string no other plant's answer
# contains. The addresses (devices on 1, 2, the price endpoint on 9) are in the documentation
# networks, which nothing answers.
PLANTS = (
    ("Aquilahof-5101", "Aquila", "198.51.100.1", 5101.3),
    ("Borealishof-5202", "Borealis", "198.51.100.2", 5202.3),
    ("Cygnushof-5303", "Cygnus", "203.0.113.1", 5303.3),
    ("Dracohof-5404", "Draco", "203.0.113.2", 5404.3),
    ("Eridanushof-5505", "Eridanus", "192.0.2.1", 5505.3),
)
COUNT = len(PLANTS)


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def markers(index: int) -> tuple[str, ...]:
    name, prefix, net, grid_w = PLANTS[index]
    return (
        name,
        f"{prefix}-",
        f"{prefix.upper()}-SN",
        net,
        str(grid_w),
        f"{prefix.lower()}-prices",
        f"{prefix}-person",
    )


def leaks(response: Any, own: int) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", errors="replace")
    return [m for index in range(COUNT) if index != own for m in markers(index) if m in text]


@pytest.fixture
def fleet() -> dict[str, Any]:
    ensure_device_user()
    plants = [_plant(name, prefix, net, grid_w, 5 + n) for n, (name, prefix, net, grid_w) in enumerate(PLANTS)]
    people, admin_tokens, api_tokens = [], [], []
    for n, entry in enumerate(plants):
        prefix = PLANTS[n][1]
        user = get_user_model().objects.create_user(f"{prefix}-person", password="Person-Pass-1")
        Membership.objects.create(user=user, plant=entry["plant"], role="installer")
        people.append(user)
        admin_tokens.append(create_token(name=f"{prefix}-admin", role="admin", expires_on=dt.date(2030, 1, 1),
                                         user=user, authorise=True).secret)  # fmt: skip
        api_tokens.append(create_token(name=f"{prefix}-api", role="api", expires_on=dt.date(2030, 1, 1),
                                       user=user, authorise=True).secret)  # fmt: skip
        Event.objects.create(time=dt.datetime.now(dt.UTC), plant=entry["plant"], kind="device_offline",
                             message=f"{prefix}-meter offline")  # fmt: skip
    settings_row, _ = ModbusSettings.objects.get_or_create(pk=1)
    settings_row.plant = plants[0]["plant"]
    settings_row.save()
    return {
        "plants": plants,
        "people": people,
        "admin_tokens": admin_tokens,
        "api_tokens": api_tokens,
        "target": MasterTarget.objects.create(host=f"{PLANTS[0][2]}80", port=502, unit_id=1),
        "certificate": ClientCertificate.objects.create(fingerprint="CD" * 32, subject="CN=scada"),
        "device": get_user_model().objects.get(username=DEVICE_USERNAME),
    }


def world_for(fleet: dict[str, Any], target: int, *, plant_of: int) -> dict[str, Any]:
    """What ``test_plant_isolation._path`` fills ids from: the target's objects, the plant id of
    ``plant_of`` (the target itself, or the requester's own plant)."""
    objects = fleet["plants"][target]
    token = AccessToken.objects.get(name=f"{PLANTS[target][1]}-admin")
    return {
        "one": {**objects, "plant": fleet["plants"][plant_of]["plant"]},
        "token": token,
        "zed": fleet["people"][target],
        "target": fleet["target"],
        "certificate": fleet["certificate"],
    }


def all_rows(fleet: dict[str, Any]) -> list[Any]:
    return [_fingerprint({"one": entry}) for entry in fleet["plants"]]


def only_plant_ids(chain: list[Any]) -> bool:
    """Whether the route names no object but (at most) a plant: with the requester's own plant id
    it may answer that plant."""
    names = set(ROUTE_PARAMETER.findall("".join(str(piece) for piece in chain)))
    # A SKI names the grid operator's control box to couple, not an object of the target plant.
    return names <= {"plant_id", "direction", "name", "url", "app_label", "action", "ski"}


def sweep(fleet: dict[str, Any], *, tokens: bool) -> tuple[list[str], int]:
    routes = _routes()
    problems: list[str] = []
    refusals = 0
    worlds = {
        (target, plant_of): world_for(fleet, target, plant_of=plant_of)
        for target in range(COUNT)
        for plant_of in range(COUNT)
    }
    if tokens:
        clients = [Client(HTTP_AUTHORIZATION=f"Bearer {secret}") for secret in fleet["admin_tokens"]]
    else:
        clients = [_client(person) for person in fleet["people"]]
    for number, (key, chain) in enumerate(routes):
        target = number % COUNT
        requester = (target + 1 + (number // COUNT) % (COUNT - 1)) % COUNT
        # Tokens reach the target's objects through their own plant; a route that names nothing
        # but a plant is asked for the target plant itself.
        through_own = tokens and not only_plant_ids(chain)
        world = worlds[target, requester if through_own else target]
        url = f"{_path(chain, world)}?plant={world['one']['plant'].pk}"
        may_answer = key in NO_PLANT_DATA
        who = f"{PLANTS[requester][1]} {'token' if tokens else 'session'} -> {PLANTS[target][1]}"
        for method in METHODS:
            response = getattr(clients[requester], method)(url)
            if key in NO_PLANT_DATA and not tokens:  # a logout or a language switch: log in afresh
                clients[requester] = _client(fleet["people"][requester])
            leaked = leaks(response, requester)
            if leaked:
                problems.append(f"{who}: {method.upper()} {url} ({key}): {response.status_code} shows {leaked}")
            elif not may_answer and not _refused(response):
                problems.append(f"{who}: {method.upper()} {url} ({key}): {response.status_code}, not refused")
            refusals += response.status_code in (403, 404)
    return problems, refusals


@pytest.mark.parametrize("tokens", [False, True], ids=["sessions", "admin-tokens"])
def test_every_route_refuses_every_other_plant(fleet: dict[str, Any], tokens: bool) -> None:
    before = all_rows(fleet)
    problems, refusals = sweep(fleet, tokens=tokens)
    assert not problems, "\n".join(problems)
    assert refusals > 200, "the refusals are the role checks', not unknown addresses"
    assert all_rows(fleet) == before, "nothing of any plant or the device changed"


EXPORTS = (
    "/api/v1/plants/{plant}/history?hours=24&format=csv",
    "/api/v1/plants/{plant}/energy?days=7&format=csv",
    "/api/v1/plants/{plant}/costs/?period=day&format=csv",
    "/api/v1/plants/{plant}/charging-sessions?format=csv",
    "/api/v1/plants/{plant}/phase-switches?format=csv",
    "/api/v1/plants/{plant}/smartgrid/history?format=csv",
    "/wallbox/phase_switching_log.txt?plant={plant}",
    "/wallbox/sessions/?plant={plant}&format=csv",
    "/api/v1/plants/{plant}/state",
)


def test_exports_refuse_every_other_plant_for_sessions_and_both_token_roles(fleet: dict[str, Any]) -> None:
    problems = []
    for requester, target in itertools.permutations(range(COUNT), 2):
        plant = fleet["plants"][target]["plant"].pk
        callers = {
            "session": _client(fleet["people"][requester]),
            "admin token": Client(HTTP_AUTHORIZATION=f"Bearer {fleet['admin_tokens'][requester]}"),
            "api token": Client(HTTP_AUTHORIZATION=f"Bearer {fleet['api_tokens'][requester]}"),
        }
        for (who, client), template in itertools.product(callers.items(), EXPORTS):
            url = template.format(plant=plant)
            response = client.get(url)
            if response.status_code not in (401, 403, 404) or leaks(response, requester):
                problems.append(f"{who} of {PLANTS[requester][1]}: {url} -> {response.status_code}")
    assert not problems, "\n".join(problems)
    # The control: each person's own exports answer.
    own = _client(fleet["people"][2]).get(f"/api/v1/plants/{fleet['plants'][2]['plant'].pk}/history?format=csv")
    assert own.status_code == 200 and own["Content-Type"].startswith("text/csv")


def test_device_wide_exports_and_the_modbus_slaves_plant_need_every_plant(fleet: dict[str, Any]) -> None:
    """The Modbus slave serves the one plant of the device's Modbus settings: choosing it (page or
    API) and its configuration export are the device's, refused to an installer of some plants."""
    served = fleet["plants"][0]["plant"]
    for requester in range(COUNT):
        other = fleet["plants"][(requester + 1) % COUNT]["plant"]
        session = _client(fleet["people"][requester])
        token = Client(HTTP_AUTHORIZATION=f"Bearer {fleet['admin_tokens'][requester]}")
        for client in (session, token):
            for target in (other, fleet["plants"][requester]["plant"]):
                refused = client.put("/api/v1/modbus/settings", {"plant": target.pk}, content_type="application/json")
                assert refused.status_code == 403, (requester, refused.content)
                refused = client.post("/modbus/slave/", {"plant": target.pk, "slave_enabled": "on"})
                assert _refused(refused), (requester, refused.status_code)
            assert client.get("/api/v1/modbus/config").status_code == 403
            assert _refused(client.get("/modbus/export/"))
        assert ModbusSettings.objects.get(pk=1).plant_id == served.pk
        served_map = session.get("/api/v1/modbus/map?limit=1000").json()
        assert (served_map["count"] > 0) is (requester == 0), "the map only for a role on the served plant"
    everywhere = _client(fleet["device"])
    moved = everywhere.put("/api/v1/modbus/settings", {"plant": fleet["plants"][3]["plant"].pk},
                           content_type="application/json")  # fmt: skip
    assert moved.status_code == 200, "the control: the device account chooses the served plant"
    assert ModbusSettings.objects.get(pk=1).plant_id == fleet["plants"][3]["plant"].pk


@pytest.mark.django_db(transaction=True)
async def test_the_fast_path_of_current_values_refuses_another_plants_token() -> None:
    """The web process answers ``/api/v1/plants/{id}/state`` for a token from a cache, before
    Django; with the cache warm for every plant (the device account polled them), a token of one
    plant still gets 403 for the others, and its own plant's values."""
    from access.tests.test_token_cache import Counting, get
    from plant.api import views

    views._state_bodies.clear()
    django_app = Counting()
    app = views.StateFastPath(django_app)

    def build() -> tuple[list[Plant], list[str], str]:
        ensure_device_user()
        plants = [Plant.objects.create(name=name) for name, *_rest in PLANTS]
        for plant, (_name, prefix, _net, grid_w) in zip(plants, PLANTS, strict=True):
            publish(_state(plant, grid_w=grid_w, box=f"{prefix}-Carport", inverter=f"{prefix}-Roof"))
        secrets = []
        for plant, (_name, prefix, *_rest) in zip(plants, PLANTS, strict=True):
            user = get_user_model().objects.create_user(f"{prefix}-person", password="Person-Pass-1")
            Membership.objects.create(user=user, plant=plant, role="operator")
            secrets.append(create_token(name=f"{prefix}-api", role="api", expires_on=dt.date(2030, 1, 1), user=user,
                                        authorise=True).secret)  # fmt: skip
        device = get_user_model().objects.get(username=DEVICE_USERNAME)
        device_secret = create_token(name="device-api", role="api", expires_on=dt.date(2030, 1, 1), user=device,
                                     authorise=True).secret  # fmt: skip
        return plants, secrets, device_secret

    plants, secrets, device_secret = await sync_to_async(build)()

    async def state(plant: Plant, secret: str) -> tuple[int, bytes]:
        status, _headers, body = await get(
            app, f"/api/v1/plants/{plant.pk}/state", {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
        )
        return status, body

    for _round in range(2):  # warm: Django answers each plant once, then the fast path does
        for index, plant in enumerate(plants):
            status, body = await state(plant, device_secret)
            assert status == 200 and str(PLANTS[index][3]).encode() in body
    assert django_app.calls == COUNT, "the second round came from the cache"
    for requester, target in itertools.permutations(range(COUNT), 2):
        status, body = await state(plants[target], secrets[requester])
        assert status == 403, (requester, target, status)
        assert not any(m.encode() in body for m in markers(target))
    status, body = await state(plants[1], secrets[1])
    assert status == 200 and str(PLANTS[1][3]).encode() in body


@pytest.mark.django_db(transaction=True)
async def test_the_live_websocket_refuses_every_other_plant() -> None:
    from access.tests.test_plant_isolation import _outcome

    def build() -> tuple[list[Plant], list[Client]]:
        plants = [Plant.objects.create(name=name) for name, *_rest in PLANTS]
        clients = []
        for plant, (_name, prefix, _net, grid_w) in zip(plants, PLANTS, strict=True):
            publish(_state(plant, grid_w=grid_w, box=f"{prefix}-Carport", inverter=f"{prefix}-Roof"))
            user = get_user_model().objects.create_user(f"{prefix}-person", password="Person-Pass-1")
            Membership.objects.create(user=user, plant=plant, role="installer")
            clients.append(_client(user))
        return plants, clients

    plants, clients = await sync_to_async(build)()
    for requester, target in itertools.permutations(range(COUNT), 2):
        opened, code, frame = await _outcome(f"/ws/plants/{plants[target].pk}/live/", clients[requester])
        assert not opened and code == 4403, (requester, target, code, frame)
    for own in range(COUNT):
        opened, _code, frame = await _outcome(f"/ws/plants/{plants[own].pk}/live/", clients[own])
        assert opened and str(PLANTS[own][3]) in frame
        assert not [m for index in range(COUNT) if index != own for m in markers(index) if m in frame]
