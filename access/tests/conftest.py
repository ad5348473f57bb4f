"""Tokens in every state, an installer session and a helper for the Authorization header."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.utils import timezone

from access import services
from access.models import AccessToken
from plant.models import Plant
from portal.services import device_user, ensure_device_user

MakeToken = Callable[..., str]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def installer(db: None) -> Any:
    ensure_device_user()
    user = device_user()
    assert user is not None
    return user


@pytest.fixture
def installer_client(client: Client, installer: Any) -> Client:
    client.force_login(installer)
    return client


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Token plant")


@pytest.fixture
def make_token(installer: AbstractBaseUser) -> MakeToken:
    """``make_token(role, state)``: a token's secret; state active, pending, expired or revoked."""
    counter = iter(range(10_000))

    def make(role: str = "api", state: str = "active") -> str:
        new = services.create_token(
            name=f"{role}-{state}-{next(counter)}",
            role=role,
            expires_on=timezone.now().date() + dt.timedelta(days=30),
            user=installer,
            authorise=state != "pending",
        )
        if state == "expired":
            AccessToken.objects.filter(pk=new.token.pk).update(expires_on=timezone.now().date() - dt.timedelta(days=1))
        if state == "revoked":
            services.revoke_token(new.token)
        return new.secret

    return make
