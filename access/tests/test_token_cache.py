"""A checked token is cached per process, and a change anywhere holds on the very next request.

The API's hottest request (current values with a bearer token) is answered in front of Django
(``plant.api.views.StateFastPath``) from those caches; these tests drive the real ASGI
application in-process and count what reaches Django.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access import services
from access.models import AccessToken
from access.tests.conftest import MakeToken, bearer
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from plant.api import views
from plant.models import Plant
from tests.pages import publish

READ = "/api/v1/plants/"


def token_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "access_accesstoken" in q["sql"]]


def test_a_checked_token_is_not_read_from_the_database_again(client: Client, make_token: MakeToken):
    headers = bearer(make_token("api"))
    assert client.get(READ, headers=headers).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(READ, headers=headers).status_code == 200
    assert token_queries(queries) == []


def test_a_change_made_by_another_process_holds_on_the_next_request(client: Client, make_token: MakeToken):
    headers = bearer(make_token("api"))
    assert client.get(READ, headers=headers).status_code == 200  # now cached here
    # Another process revokes: its own row write (no signal here) and the generation bump.
    AccessToken.objects.update(revoked_at=timezone.now())
    services._redis().incr(services.generation_key())
    response = client.get(READ, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "token revoked"}


def test_a_write_nobody_announced_is_seen_once_the_cached_row_is_old(
    client: Client, make_token: MakeToken, monkeypatch: pytest.MonkeyPatch
):
    headers = bearer(make_token("api"))
    assert client.get(READ, headers=headers).status_code == 200
    AccessToken.objects.update(revoked_at=timezone.now())  # e.g. while Redis was unreachable
    assert client.get(READ, headers=headers).status_code == 200  # the cache does not know yet
    monkeypatch.setattr(services, "TOKEN_CACHE_MAX_AGE_S", 0.0)
    assert client.get(READ, headers=headers).json() == {"detail": "token revoked"}


def _deactivate(user: Any) -> None:
    user.is_active = False
    user.save()


@pytest.mark.parametrize(
    "change",
    [
        lambda token: services.revoke_token(token),
        lambda token: AccessToken.objects.get(pk=token.pk).delete(),
        lambda token: _deactivate(token.user),
    ],
    ids=["revoked", "deleted", "user deactivated"],
)
def test_saves_and_deletes_end_the_cached_row(client: Client, make_token: MakeToken, change: Any):
    headers = bearer(make_token("admin"))
    assert client.get(READ, headers=headers).status_code == 200
    change(AccessToken.objects.select_related("user").get())
    assert client.get(READ, headers=headers).status_code == 401


def test_without_redis_every_check_reads_the_row(
    client: Client, make_token: MakeToken, monkeypatch: pytest.MonkeyPatch
):
    import redis

    headers = bearer(make_token("api"))

    class Down:
        def get(self, key: str) -> None:
            raise redis.ConnectionError("down")

    monkeypatch.setattr(services, "_redis", lambda: Down())
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(READ, headers=headers).status_code == 200
        assert len([sql for sql in token_queries(queries) if sql.startswith("SELECT")]) == 1
    AccessToken.objects.update(revoked_at=timezone.now())
    assert client.get(READ, headers=headers).json() == {"detail": "token revoked"}


# --- the fast path in front of Django ---------------------------------------------------------


def snapshot_of(plant: Plant, sequence: int) -> PlantState:
    now = timezone.now()
    return PlantState(
        plant_id=plant.pk, timestamp=now, sequence=sequence, meter=None,
        meter_status=DeviceStatus(name="meter", online=True, last_seen=now),
        flow=EnergyFlow(grid_power_w=812.4, pv_power_w=2100.0, battery_power_w=None, battery_soc_pct=None,
                        house_power_w=2912.4, wallbox_power_w=None),
        totals=EnergyCounters(active_import_wh=1234.5, active_export_wh=67.8),
    )  # fmt: skip


class Counting:
    """The Django application, counting the requests that reach it."""

    def __init__(self) -> None:
        from django.core.asgi import get_asgi_application

        self.app = get_asgi_application()
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


async def get(app: Any, path: str, headers: dict[str, str], query: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    import asyncio

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(b"host", b"testserver")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    answer_headers = {bytes(k).decode().lower(): bytes(v).decode() for k, v in start["headers"]}
    return start["status"], answer_headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def fast() -> tuple[views.StateFastPath, Counting]:
    views._state_bodies.clear()
    django_app = Counting()
    return views.StateFastPath(django_app), django_app


@pytest.mark.django_db(transaction=True)
async def test_the_second_request_is_answered_without_django_and_alike(fast: Any):
    from asgiref.sync import sync_to_async

    app, django_app = fast
    plant, secret = await sync_to_async(_plant_and_token)("api")
    headers = {**bearer(secret), "Accept": "application/json"}
    path = f"/api/v1/plants/{plant.pk}/state"
    first = await get(app, path, headers)
    second = await get(app, path, headers)
    assert django_app.calls == 1
    assert first[0] == second[0] == 200
    assert first[2] == second[2] and json.loads(second[2])["sequence"] == 1
    csp = "content-security-policy"
    assert {k: v for k, v in first[1].items() if k != csp} == {k: v for k, v in second[1].items() if k != csp}
    assert first[1][csp] != second[1][csp], "a fresh nonce each time"
    assert second[1]["cache-control"] == "no-store, private"

    # A newer snapshot: Django renders it (once), then the fast path serves it.
    await sync_to_async(publish)(snapshot_of(plant, 2))
    assert json.loads((await get(app, path, headers))[2])["sequence"] == 2
    assert json.loads((await get(app, path, headers))[2])["sequence"] == 2
    assert django_app.calls == 2

    # Revoked: the very next request is refused, by Django, with the reason.
    await sync_to_async(lambda: services.revoke_token(AccessToken.objects.get()))()
    status, _headers, body = await get(app, path, headers)
    assert (status, json.loads(body)) == (401, {"detail": "token revoked"})


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("extra", "query"),
    [({"Cookie": "sessionid=x"}, b""), ({}, b"format=json"), ({"Authorization": "Bearer ksem_nonsense"}, b"")],
    ids=["cookie", "query string", "malformed token"],
)
async def test_requests_with_more_to_judge_go_to_django(fast: Any, extra: dict[str, str], query: bytes):
    from asgiref.sync import sync_to_async

    app, django_app = fast
    plant, secret = await sync_to_async(_plant_and_token)("api")
    path = f"/api/v1/plants/{plant.pk}/state"
    headers = {**bearer(secret), "Accept": "application/json"}
    await get(app, path, headers)
    calls = django_app.calls
    status, _headers, _body = await get(app, path, {**headers, **extra}, query)
    assert django_app.calls == calls + 1
    assert status == (401 if "Authorization" in extra else 200)


@pytest.mark.django_db(transaction=True)
async def test_a_person_s_admin_token_is_judged_by_django(fast: Any):
    """Per-plant roles are not cached: such a token always takes the full path."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    from portal.models import Membership

    app, django_app = fast

    def setup() -> tuple[Plant, str]:
        plant = Plant.objects.create(name="Person's plant")
        person = get_user_model().objects.create_user("olga", password="Secret-Pass-1")
        Membership.objects.create(user=person, plant=plant, role="installer")
        secret = services.create_token(
            name="olga's", role="admin", expires_on=timezone.now().date() + dt.timedelta(days=3), user=person,
            authorise=True,
        ).secret  # fmt: skip
        publish(snapshot_of(plant, 1))
        return plant, secret

    plant, secret = await sync_to_async(setup)()
    headers = {**bearer(secret), "Accept": "application/json"}
    for _ in range(2):
        assert (await get(app, f"/api/v1/plants/{plant.pk}/state", headers))[0] == 200
    assert django_app.calls == 2


@pytest.mark.django_db(transaction=True)
async def test_varied_request_headers_cannot_grow_the_process(fast: Any):
    from asgiref.sync import sync_to_async

    app, _django_app = fast
    plant, secret = await sync_to_async(_plant_and_token)("api")
    for n in range(views.MAX_LEARNED_HEADER_SETS + 8):
        headers = {**bearer(secret), "Accept-Language": f"x-{n}"}
        assert (await get(app, f"/api/v1/plants/{plant.pk}/state", headers))[0] == 200
    assert len(app._headers) == views.MAX_LEARNED_HEADER_SETS


def _plant_and_token(role: str) -> tuple[Plant, str]:
    from portal.services import device_user, ensure_device_user

    ensure_device_user()
    plant = Plant.objects.create(name="Fast plant")
    publish(snapshot_of(plant, 1))
    secret = services.create_token(
        name=f"fast {role}", role=role, expires_on=timezone.now().date() + dt.timedelta(days=3), user=device_user(),
        authorise=True,
    ).secret  # fmt: skip
    return plant, secret


@pytest.mark.django_db(transaction=True)
async def test_django_looks_again_when_the_plant_check_is_due(fast: Any):
    """The plant is looked up again at least every STATE_BODY_STALE_S: a deleted plant stops answering."""
    import dataclasses

    from asgiref.sync import sync_to_async

    app, django_app = fast
    plant, secret = await sync_to_async(_plant_and_token)("api")
    plant_id = plant.pk
    path, headers = f"/api/v1/plants/{plant_id}/state", bearer(secret)
    await get(app, path, headers)
    await get(app, path, headers)
    assert django_app.calls == 1
    await sync_to_async(plant.delete)()
    aged = views._state_bodies[plant_id]
    views._state_bodies[plant_id] = dataclasses.replace(aged, checked_at=aged.checked_at - views.STATE_BODY_STALE_S)
    status, _headers, body = await get(app, path, headers)
    assert status == 404 and "detail" in json.loads(body)
    assert django_app.calls == 2
