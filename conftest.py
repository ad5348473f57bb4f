"""Suite-wide fixtures: a Redis for the run (the embedded one unless REDIS_URL is set).

`make test` runs the suite on pytest-xdist workers (``--dist loadfile``: a file's tests stay on one
worker, so a module's stack or simulator is started once). Each worker is a test session of its
own: var/ dir, database, embedded Redis and key prefix (``ksem_site/test_settings.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets a node id of its own, or the run stops.

    xdist hands tests to workers by node id, and ``--dist loadfile`` runs only the first of equal
    ids: a test with a twin is silently dropped. schemathesis 4 names its per-operation tests
    ``test[GET /api/...]`` but, under pytest 9, their node ids lose the bracket (pytest builds
    them from a callspec schemathesis does not pass); they get it back here.
    """
    for item in items:
        original = getattr(item, "originalname", None) or ""
        if isinstance(item, pytest.Function) and "[" not in item.nodeid and item.name.startswith(original + "["):
            item._id = item.parent.id.child(original).with_params(item.name[len(original) + 1 : -1])  # type: ignore[union-attr]
    counts = Counter(item.nodeid for item in items)
    twins = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if twins:
        raise pytest.UsageError(f"tests share a node id (xdist would run only one of each): {twins[:5]}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The var/ dir these settings made goes with the session (the controller's and an idle xdist
    worker's too: they run no test, so no fixture would remove theirs)."""
    if getattr(settings, "TEST_VAR_DIR_CREATED", False):
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)


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
