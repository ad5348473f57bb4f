"""Plants, people with roles, a local SMTP server and Celery tasks run in the test's process."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from events.models import MailSettings
from events.tests.smtp_server import SmtpServer, smtp_server
from ksem_site.celery import app as celery_app
from plant.models import Plant
from portal.models import Membership


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


@pytest.fixture
def other_plant(db: None) -> Plant:
    return Plant.objects.create(name="Neighbour", time_zone="Europe/Berlin")


def person(name: str, plant: Plant, role: str) -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    """An installer of the only plant: installer of the whole device."""
    return person("inst-anna", plant, Membership.Role.INSTALLER)


@pytest.fixture
def operator(plant: Plant) -> Client:
    return person("oper-otto", plant, Membership.Role.OPERATOR)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server(accept_login=("mailer", "Mail-Pass-7")) as server:
        yield server


@pytest.fixture
def refusing_smtp() -> Iterator[SmtpServer]:
    with smtp_server(accept_login=None) as server:
        yield server


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run at once in this process (the worker's code, without a worker)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


def dead_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mail_to(server: SmtpServer, kinds: list[str], **fields: object) -> MailSettings:
    from events import secret

    row, _ = MailSettings.objects.get_or_create(pk=1)
    row.enabled = True
    row.host = server.host
    row.port = server.port
    row.tls = "none"
    row.username = "mailer"
    row.password_encrypted = secret.encrypt("Mail-Pass-7")
    row.sender = "ksem@example.org"
    row.recipients = "owner@example.org"
    row.kinds = kinds
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row
