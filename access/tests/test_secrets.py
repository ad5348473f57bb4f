"""A token's secret is shown once and then nowhere: not in the API, the pages, the database or the logs."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from access.models import AccessToken
from access.services import hash_secret
from access.tests.conftest import bearer
from plant.models import Plant

pytestmark = pytest.mark.django_db
IN_A_YEAR = (timezone.now().date() + dt.timedelta(days=365)).isoformat()


def _every_get_path(client: Client, headers: dict[str, str], ids: dict[str, object]) -> list[str]:
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = []
    for template, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(str(m.group(1)), "purchase")), template)
        paths.append(path)
    return paths


def _database_dump() -> str:
    rows: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


def test_secrets_appear_once_and_never_again(
    installer_client: Client, installer: AbstractBaseUser, plant: Plant, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []

    page = installer_client.post("/profile/tokens/", {"name": "page", "role": "admin", "expires_on": IN_A_YEAR})
    assert page.status_code == 200
    (from_page,) = re.findall(r"ksem_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", page.content.decode())
    secrets.append(from_page)
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]

    created = installer_client.post(
        "/api/v1/tokens/", {"name": "api", "role": "admin", "expires_on": IN_A_YEAR}, content_type="application/json"
    )
    secrets.append(created.json()["secret"])

    out = io.StringIO()
    call_command(
        "access_token", "create", "--name", "cli", "--role", "admin", "--expires", IN_A_YEAR, "--authorise", stdout=out
    )
    secrets.append(out.getvalue().splitlines()[-1])
    assert len(set(secrets)) == 3

    for token in AccessToken.objects.all():
        installer_client.post(f"/profile/tokens/{token.pk}/authorise")
    headers = bearer(secrets[0])
    ids = {
        "plant_id": plant.pk,
        "token_id": AccessToken.objects.get(name="cli").pk,
        "id": 1,
        "name": "A",
        "inverter_id": 1,
    }
    bodies = [installer_client.get("/profile/tokens/").content.decode()]
    for path in _every_get_path(installer_client, headers, ids):
        for client_headers in (headers, {}):
            response = installer_client.get(path, headers=client_headers)
            assert response.status_code != 500, path  # 503: no measurement yet
            bodies.append(f"{path}: {response.content.decode(errors='replace')}")
    assert any("/api/v1/tokens/" in body and '"name":"cli"' in body.replace(" ", "") for body in bodies)
    dump = _database_dump()
    assert hash_secret(secrets[0]) in dump, "the token rows were read (only their hash is there)"
    for secret in secrets:
        assert all(secret not in body for body in bodies)
        assert secret not in dump
        assert secret[14:] not in dump, "not even the secret part"
        assert secret not in caplog.text
