"""Suite-wide fixtures: a Redis for the run (the embedded one unless REDIS_URL is set)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client
from hypothesis import settings as hypothesis_settings

from ksem_site.embedded_redis import server_args
from tests.stack import Stack, free_port

# Timing belongs in bench/: a busy CI machine must not fail a property test for being slow.
hypothesis_settings.register_profile("ksem", deadline=None)
hypothesis_settings.load_profile("ksem")


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[str]:
    """The Redis every test talks to. Embedded: started here on a socket in var/test."""
    process = None
    if settings.REDIS_EMBEDDED:
        socket_path = Path(settings.EMBEDDED_REDIS_SOCKET)
        socket_path.unlink(missing_ok=True)
        process = subprocess.Popen(server_args(socket_path), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("embedded redis-server did not start")
            time.sleep(0.02)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.ping()
    yield settings.REDIS_URL
    _delete_keys(client)
    if process is not None:
        process.terminate()
        process.wait(5)
    if getattr(settings, "TEST_VAR_DIR_CREATED", False):
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


def _delete_keys(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _clean_redis_keys(redis_server: str) -> Iterator[None]:
    """Each test starts without live values, locks or ticks left by another."""
    client = redis.Redis.from_url(redis_server)
    _delete_keys(client)
    yield
    client.close()


@pytest.fixture
def user_client(client: Client, db: None) -> Client:
    """A browser session of a logged-in installer (a superuser: installer on every plant, ACC-4)."""
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("someone", password="Secret-Pass-1"))
    return client


@pytest.fixture
def web(django_db_setup: None, tmp_path: Path) -> Iterator[Stack]:
    """Only the web process (pages, API, the live socket) against the test database: browser tests
    publish the snapshots they need themselves."""
    running = Stack(meter_port=free_port(), web_port=free_port(), logs=tmp_path)
    running.start("web")
    try:
        running.wait_for(lambda: running.health()[0] in (200, 503), 30, "the web process to answer")
        yield running
    finally:
        running.stop_all()
