"""When Redis does not answer: health says so, pages still render and explain."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.test import Client

import redisconn
from plant.models import Plant
from tests.pages import by_testid
from tests.stack import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    """Point the live store at a port where nothing listens: real refused connections."""
    redisconn.sync_redis.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    yield
    redisconn.sync_redis.cache_clear()


def test_health_is_503_and_names_redis(user_client: Client, redis_down: None):
    Plant.objects.create(name="Home")
    response = user_client.get("/api/health")
    assert response.status_code == 503
    report = response.json()
    assert report["database"] == {"ok": True}
    assert report["redis"]["ok"] is False
    assert "refused" in report["redis"]["error"].lower() or "connect" in report["redis"]["error"].lower()
    assert report["status"] == "error"


def test_anonymous_health_says_redis_is_down_without_the_address(client: Client, redis_down: None):
    Plant.objects.create(name="Home")
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["redis"] == {"ok": False}


def test_dashboard_still_renders_and_explains(user_client: Client, redis_down: None):
    Plant.objects.create(name="Home")
    response = user_client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    text, _ = by_testid(page, "last-update")
    assert "data store does not answer" in text
    assert by_testid(page, "device-status")[1]["data-state"] == "error"


def test_settings_saved_while_redis_is_down_warn_once_not_per_save(
    redis_down, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from plant import live

    monkeypatch.setattr(live, "_announce_failing", False)
    plant = Plant.objects.create(name="Home")
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            plant.name = f"Home {n}"
            plant.save()
    warnings = [r.getMessage() for r in caplog.records if "not announced" in r.getMessage()]
    assert len(warnings) == 1, warnings


def test_the_bootstrap_before_redis_runs_warns_of_nothing(
    redis_down, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    from plant import live

    monkeypatch.setattr(live, "_announce_failing", False)
    with django_capture_on_commit_callbacks(execute=True) as announced:
        call_command("bootstrap", "--meter-port", "15020", stdout=io.StringIO())
    assert Plant.objects.exists()
    assert not announced, "nothing is announced before the stack runs"
    assert not [r for r in caplog.records if r.levelname == "WARNING"], [r.getMessage() for r in caplog.records]
