"""One JSON API style (ACC-3): versions, paging, JSON errors under /api/, the schema's parameters."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.translation import trans_real

from access.tests.conftest import MakeToken, bearer
from plant.models import Plant

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client, make_token: MakeToken) -> Client:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {make_token('admin')}"
    return client


def test_v1_is_canonical_and_the_unversioned_paths_are_aliases(api: Client, plant: Plant):
    assert api.get("/api/v1/plants/").json() == api.get("/api/plants/").json()
    assert api.get(f"/api/v1/plants/{plant.pk}/history").json() == api.get(f"/api/plants/{plant.pk}/history").json()


def test_lists_are_paged_and_a_bad_page_is_refused_naming_it(api: Client, db: None):
    for n in range(3):
        Plant.objects.create(name=f"plant {n}")
    body = api.get("/api/v1/plants/", {"limit": "2"}).json()
    assert body["count"] == 3
    assert [p["name"] for p in body["results"]] == ["plant 0", "plant 1"]
    assert "offset=2" in body["next"] and body["previous"] is None
    assert [p["name"] for p in api.get("/api/v1/plants/", {"limit": "2", "offset": "2"}).json()["results"]] == [
        "plant 2"
    ]
    for name, value in (("limit", "0"), ("limit", "1001"), ("limit", "abc"), ("limit", "²"), ("offset", "-1")):
        response = api.get("/api/v1/plants/", {name: value})
        assert response.status_code == 400, (name, value)
        assert list(response.json()) == [name]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/api/nothing-here",
        "/api/v1/plants/abc/state",
        "/api/v1/plants/²/state",
        "/api/v1/plants/99999999999999999999999/state",
        "/api/v1/plants/999999999999999999/history",
        "/api/v1/modbus/targets/1e3",
        "/api/v1/tokens/-1",
    ],
)
def test_unknown_paths_and_malformed_ids_are_json_404(api: Client, path: str):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_a_bad_host_is_json_400_under_api_and_a_page_elsewhere(client: Client):
    response = client.get("/api/v1/plants/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid Host header"}
    page = client.get("/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert not page["Content-Type"].startswith("application/json")


def test_schema_and_docs_are_served(client: Client):
    for path in ("/api/schema/", "/api/schema"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"/api/v1/plants/{plant_id}/history" in response.content
    assert client.get("/api/schema/", {"format": "json"}).json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn." not in docs.content, "the docs come with the product, not from a CDN"
    assert client.get("/api/docs/", {"script": ""}).status_code == 200


def _translations() -> dict[str, object]:
    """Django's cache of loaded translations, one per language ever activated."""
    return getattr(trans_real, "_translations", {})


def test_schema_refuses_unknown_languages_without_caching_a_translation(client: Client):
    assert client.get("/api/schema/", {"lang": "de"}).status_code == 200
    cached = len(_translations())
    for n in range(20):
        response = client.get("/api/schema/", {"lang": f"x-{n}"})
        assert response.status_code == 400
        assert list(response.json()) == ["lang"]
    assert len(_translations()) == cached


@pytest.mark.parametrize("version", ["\r\n", "\x00", "v2", "1", "v1\r\nX-Evil: 1", ""])
def test_schema_refuses_unknown_versions_and_copies_nothing_into_headers(client: Client, version: str):
    response = client.get("/api/schema/", {"version": version})
    assert response.status_code == 400
    assert list(response.json()) == ["version"]
    assert "Content-Disposition" not in response
    assert client.get("/api/schema/", {"version": "v1"})["Content-Disposition"] == (
        'inline; filename="KSEM energy manager API (v1).yaml"'
    )


def test_the_schema_documents_400_and_404_of_history_energy_and_state(client: Client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    for name in ("history", "energy"):
        responses = schema["paths"][f"/api/v1/plants/{{plant_id}}/{name}"]["get"]["responses"]
        assert {"200", "400", "404"} <= set(responses), name
    state = schema["paths"]["/api/v1/plants/{plant_id}/state"]["get"]["responses"]
    assert {"200", "404", "503"} <= set(state)
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_field_errors_name_the_field_with_a_token_too(api: Client, plant: Plant):
    response = api.get(f"/api/v1/plants/{plant.pk}/history", {"hours": "²"})
    assert response.status_code == 400
    assert list(response.json()) == ["hours"]
    assert api.get("/api/v1/plants/", headers=bearer("x")).status_code == 401
