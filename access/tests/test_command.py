"""`manage.py access_token`: the secret as the last line, clear refusals that change nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from access.models import AccessToken
from access.tests.conftest import bearer

pytestmark = pytest.mark.django_db
IN_A_YEAR = (timezone.now().date() + dt.timedelta(days=365)).isoformat()


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("access_token", *args, stdout=out)
    return out.getvalue().splitlines()


def test_create_prints_the_secret_last_and_it_works_once_authorised(installer: AbstractBaseUser, client: Client):
    lines = run("create", "--name", "script", "--role", "api", "--expires", IN_A_YEAR)
    secret = lines[-1]
    assert secret.startswith("ksem_")
    assert client.get("/api/v1/plants/", headers=bearer(secret)).status_code == 401
    assert run("authorise", "--name", "script") == ["script: active"]
    assert client.get("/api/v1/plants/", headers=bearer(secret)).status_code == 200
    (listed,) = run("list")
    assert listed.startswith("script\tapi\texpires ") and "active" in listed and secret not in listed
    assert run("revoke", "--name", "script") == ["script: revoked"]
    assert client.get("/api/v1/plants/", headers=bearer(secret)).json() == {"detail": "token revoked"}


def test_create_with_authorise_works_at_once(installer: AbstractBaseUser, client: Client):
    secret = run("create", "--name", "ops", "--role", "admin", "--expires", IN_A_YEAR, "--authorise")[-1]
    assert client.get("/api/v1/tokens/", headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--role", "root", "--expires", IN_A_YEAR], "invalid choice"),
        (["create", "--name", "x", "--role", "api", "--expires", "31.12.2030"], "use YYYY-MM-DD"),
        (["create", "--name", "x", "--role", "api", "--expires", "2030-02-30"], "use YYYY-MM-DD"),
        (["create", "--name", "x", "--role", "api", "--expires", "2001-01-01"], "already passed"),
        (["create", "--name", "   ", "--role", "api", "--expires", IN_A_YEAR], "Give the token a name"),
        (["create", "--name", "a" * 65, "--role", "api", "--expires", IN_A_YEAR], "at most 64"),
        (["create", "--role", "api", "--expires", IN_A_YEAR], "--name"),
        (["authorise", "--name", "nobody"], "no token is named"),
        (["revoke", "--name", "nobody"], "no token is named"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(installer: AbstractBaseUser, args: list[str], message: str):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not AccessToken.objects.exists()


def test_a_name_is_taken_once(installer: AbstractBaseUser):
    run("create", "--name", "twice", "--role", "api", "--expires", IN_A_YEAR)
    with pytest.raises(CommandError, match="already exists"):
        run("create", "--name", "twice", "--role", "admin", "--expires", IN_A_YEAR)
    assert AccessToken.objects.get().role == "api"


def test_a_revoked_token_cannot_be_authorised_again(installer: AbstractBaseUser):
    run("create", "--name", "gone", "--role", "api", "--expires", IN_A_YEAR)
    run("revoke", "--name", "gone")
    with pytest.raises(CommandError, match="revoked"):
        run("authorise", "--name", "gone")
    assert not AccessToken.objects.get().authorised
