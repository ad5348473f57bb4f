"""Hostile bodies answer 400/413/503 as JSON and change nothing (issue 14 parts 3, 4 and 6)."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

import redisconn
from access.limits import PRICE_FILE
from access.parsers import MAX_JSON_DEPTH, too_deep
from plant.models import Plant
from tariffs import services
from tariffs.models import DynamicPrice
from tariffs.price_files import PriceFileError, parse_csv
from tests.stack import free_port

pytestmark = pytest.mark.django_db

HEADER = "start,end,price\n"
DEEP = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def _contract(plant: Plant) -> tuple[str, str]:
    plant.refresh_from_db()
    return services.contract(plant).currency, plant.time_zone


# ---- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/plants/{id}/tariffs/contract"),
        ("post", "/api/v1/plants/{id}/tariffs/purchase/"),
        ("post", "/api/v1/plants/{id}/tariffs/purchase/prices"),
        ("put", "/api/v1/plants/{id}/tariffs/purchase/source"),
        ("post", "/api/v1/plants/{id}/inverters/"),
        ("post", "/api/v1/tokens/"),
    ],
)
def test_deeply_nested_json_is_400_naming_it(user_client: Client, plant: Plant, method: str, path: str) -> None:
    before = _contract(plant), DynamicPrice.objects.count()
    response = getattr(user_client, method)(
        path.format(id=plant.pk), DEEP, content_type="application/json", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400, response.content[:200]
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert (_contract(plant), DynamicPrice.objects.count()) == before


@pytest.mark.parametrize("body", [b"[]", b"null", b'"x"', b"17", b"[1, 2]"])
def test_a_contract_that_is_not_an_object_is_400(user_client: Client, plant: Plant, body: bytes) -> None:
    before = _contract(plant)
    response = user_client.put(f"/api/v1/plants/{plant.pk}/tariffs/contract", body, content_type="application/json")
    assert response.status_code == 400
    assert "Expected a JSON object" in response.json()["non_field_errors"][0]
    assert _contract(plant) == before


@pytest.mark.parametrize(
    ("data", "deep"),
    [(1, False), ([], False), ({"a": [1, {"b": 2}]}, False), ([[[]]], False)],
)
def test_depth(data: Any, deep: bool) -> None:
    assert too_deep(data) is deep


def test_depth_at_the_limit() -> None:
    data: Any = 1
    for _ in range(MAX_JSON_DEPTH):
        data = [data]
    assert not too_deep(data)
    assert too_deep([data])


# ---- price files --------------------------------------------------------------------------------


def _upload(client: Client, plant: Plant, content: bytes) -> Any:
    return client.post(
        f"/api/v1/plants/{plant.pk}/tariffs/purchase/prices",
        {"file": SimpleUploadedFile("prices.csv", content, "text/csv")},
    )


def test_a_field_over_the_csv_limit_is_400_naming_it(user_client: Client, plant: Plant) -> None:
    response = _upload(user_client, plant, (HEADER + "a" * 200_000 + ",b,c\n").encode())
    assert response.status_code == 400
    assert "line 2: a field is longer than 131072 characters" in response.json()["file"][0]
    assert DynamicPrice.objects.count() == 0


def test_a_price_file_over_its_cap_is_413_before_it_is_read(user_client: Client, plant: Plant) -> None:
    line = b"2026-03-30T00:00:00+02:00,2026-03-30T01:00:00+02:00,0.1\n"
    content = HEADER.encode() + line * (PRICE_FILE.max_bytes // len(line) + 1)
    response = _upload(user_client, plant, content)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the price file is larger than 8 MB")
    assert DynamicPrice.objects.count() == 0


def test_the_page_import_over_its_cap_is_413_with_a_message(user_client: Client, plant: Plant) -> None:
    content = b"x" * (PRICE_FILE.max_bytes + 1)
    response = user_client.post(
        "/tariffs/settings/purchase/prices/", {"file": SimpleUploadedFile("p.csv", content)}, HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 413
    assert "price file is larger than 8 MB" in response.content.decode()


def _bad_rows(count: int) -> bytes:
    return (HEADER + "2026-99-99T00:00,2026-99-99T01:00,0.1\n" * count).encode()


def _valid_rows(count: int) -> bytes:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = (
        f"{(start + dt.timedelta(hours=n)).isoformat()},{(start + dt.timedelta(hours=n + 1)).isoformat()},0.1\n"
        for n in range(count)
    )
    return (HEADER + "".join(rows)).encode()


@pytest.mark.parametrize(
    ("content", "message", "peak_mb"),
    [
        # The probe's shape: a file whose rows fail was kept whole (600,000 lines: 80 MB here, 373 MB in the web process).
        (_bad_rows(600_000), "line 2: start", 2),
        (HEADER.encode() + (b"1," * 1000 + b"\n") * 10_000, "line 2: expected 3 columns", 2),
        (_valid_rows(150_000), "line 100002: more than 100000 prices", 40),
    ],
)
def test_a_price_file_is_parsed_in_bounded_memory(content: bytes, message: str, peak_mb: int) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(PriceFileError, match=message):
            parse_csv(io.BytesIO(content))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < peak_mb * 1_000_000, f"{peak / 1e6:.1f} MB for a {len(content) / 1e6:.1f} MB file"


# ---- Redis down (part 4) ------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings: Any) -> Iterator[None]:
    """The live store at a port where nothing listens: real refused connections."""
    redisconn.sync_redis.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    yield
    redisconn.sync_redis.cache_clear()


def test_plant_state_is_503_with_retry_after_while_redis_is_down(
    user_client: Client, plant: Plant, redis_down: None
) -> None:
    for path in (f"/api/v1/plants/{plant.pk}/state", f"/api/plants/{plant.pk}/state"):
        response = user_client.get(path, HTTP_ACCEPT="application/json")
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
        assert "Redis" in response.json()["detail"]


# ---- cheap requests (part 6) --------------------------------------------------------------------


def test_the_schema_is_rendered_once_per_format_and_language(client: Client) -> None:
    from access import schema_views

    schema_views._schemas.clear()
    schema_views._rendered.clear()
    first = client.get("/api/schema/")
    again = client.get("/api/schema/")
    german = client.get("/api/schema/?lang=de")
    as_json = client.get("/api/schema/?format=json")
    assert first.status_code == again.status_code == german.status_code == as_json.status_code == 200
    assert first.content == again.content
    assert as_json.json()["openapi"].startswith("3.")
    assert len(schema_views._schemas) == 2, "one generated schema per language"
    assert len(schema_views._rendered) == 3


@pytest.mark.parametrize(
    ("query", "accept", "status", "field"),
    [("?format=xml", "*/*", 400, "format"), ("", "application/xml", 406, "detail"), ("?lang=xx", "*/*", 400, "lang")],
)
def test_schema_errors_are_json(client: Client, query: str, accept: str, status: int, field: str) -> None:
    response = client.get(f"/api/schema/{query}", HTTP_ACCEPT=accept)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert field in response.json()


def test_an_api_path_without_its_slash_is_served_not_redirected(user_client: Client, plant: Plant) -> None:
    with_slash = user_client.get("/api/v1/plants/")
    without = user_client.get("/api/v1/plants")
    assert without.status_code == 200
    assert without.json() == with_slash.json()
    assert user_client.get("/api/v1/nothing-here").json() == {"detail": "Not found."}


# ---- in front of Django -------------------------------------------------------------------------


def _asgi(max_bytes: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Run BodyLimitASGI around an app that reads the whole body; (status, body, chunks read)."""
    import asyncio

    from access.limits import BodyLimitASGI

    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "path": "/api/v1/x", "headers": headers}
    asyncio.run(BodyLimitASGI(app, max_bytes)(scope, receive, send))
    return sent[0]["status"], sent[1]["body"], read


def test_a_declared_length_over_the_bound_is_refused_unread() -> None:
    status, body, read = _asgi(100, [(b"content-length", b"101")], [b"x" * 101])
    assert (status, read) == (413, 0)
    assert b"larger than 1 KB" in body


def test_a_chunked_body_is_counted_as_it_arrives() -> None:
    status, _body, read = _asgi(100, [], [b"x" * 60] * 5)
    assert (status, read) == (413, 2)
    assert _asgi(100, [], [b"x" * 50, b"x" * 50])[:2] == (200, b"ok")
