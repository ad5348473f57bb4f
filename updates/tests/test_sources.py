"""The update source (KSEM_UPDATE_URL) checked by beat: notify shows the offered version, automatic
installs it, manual checks nothing; a folder and an HTTP server on loopback both serve."""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from plant.models import Plant
from tests.pages import text_of
from updates import sources
from updates.models import UpdateRecord, UpdateSettings
from updates.tasks import check_for_updates
from updates.tests.conftest import Keys, make_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


@pytest.fixture
def folder(tmp_path: Path, keys: Keys, settings: Any) -> Path:
    """An update folder offering 0.2.0 and 0.3.0 (and an older one), set as the source."""
    source = tmp_path / "source"
    source.mkdir()
    for number in ("0.0.5", "0.2.0", "0.3.0"):
        (source / f"ksem-{number}.ksemupd").write_bytes(make_package(keys, number))
    index = {"packages": [{"version": n, "file": f"ksem-{n}.ksemupd"} for n in ("0.0.5", "0.3.0", "0.2.0")]}
    (source / "index.json").write_text(json.dumps(index))
    settings.KSEM_UPDATE_URL = str(source)
    return source


@pytest.fixture
def http_source(folder: Path, settings: Any) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    settings.KSEM_UPDATE_URL = url
    yield url
    server.shutdown()
    server.server_close()


def current() -> str | None:
    link = Path(settings.VAR_DIR) / "releases" / "current"
    return os.readlink(link) if link.is_symlink() else None


def test_notify_shows_the_newest_version_and_installs_nothing(user_client: Client, plant: Plant, folder: Path):
    UpdateSettings.load()
    check_for_updates.apply()
    assert UpdateSettings.load().available_version == "0.3.0"
    assert current() is None and not UpdateRecord.objects.exists()
    page = user_client.get("/device/update/").content.decode()
    assert text_of(page, "update-available") == "Version 0.3.0 is available."

    user_client.post("/device/update/check/", {"install": "1"})  # the installer's button
    assert current() == "0.3.0"
    assert UpdateRecord.objects.get().source == "source"
    assert UpdateSettings.load().available_version == ""


def test_automatic_installs_from_an_http_source(plant: Plant, http_source: str):
    UpdateSettings.objects.create(pk=1, mode="automatic")
    result = check_for_updates.apply().get()
    assert result["available"] == "0.3.0" and result["job"]
    assert current() == "0.3.0"
    assert UpdateRecord.objects.get().source == "automatic"
    assert check_for_updates.apply().get()["available"] is None, "nothing newer than what is installed"


def test_manual_checks_nothing(plant: Plant, folder: Path):
    UpdateSettings.objects.create(pk=1, mode="manual")
    assert check_for_updates.apply().get() == {"checked": False, "reason": "manual"}
    assert UpdateSettings.load().checked_at is None


def test_a_source_with_a_badly_signed_package_installs_nothing(plant: Plant, folder: Path, tmp_path: Path):
    from updates import package

    other = Keys(package.load_private_key(package.new_key_pair()[0]), tmp_path / "unused")
    (folder / "ksem-0.3.0.ksemupd").write_bytes(make_package(other, "0.3.0"))
    UpdateSettings.objects.create(pk=1, mode="automatic")
    result = check_for_updates.apply().get()
    assert "signature" in result["error"]
    assert current() is None and not (Path(settings.VAR_DIR) / "releases").exists()
    assert not list((Path(settings.VAR_DIR) / "updates").glob("*.ksemupd"))
    assert "signature" in UpdateSettings.load().check_error


def test_an_unreachable_source_is_reported(plant: Plant, settings: Any, tmp_path: Path):
    with socket.socket() as probe:  # a free port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.KSEM_UPDATE_URL = f"http://127.0.0.1:{port}/"
    UpdateSettings.load()
    assert "cannot be read" in check_for_updates.apply().get()["error"]
    assert "cannot be read" in UpdateSettings.load().check_error
    settings.KSEM_UPDATE_URL = str(tmp_path / "missing")
    assert "cannot be read" in check_for_updates.apply().get()["error"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[]", 'no list "packages"'),
        (b'{"packages": [1]}', "no object"),
        (b'{"packages": [{"version": "x", "file": "a.ksemupd"}]}', "bad version"),
        (b'{"packages": [{"version": "1.0.0", "file": "../a.ksemupd"}]}', "bad file"),
        (b'{"packages": [{"version": "1.0.0", "file": "a.tar"}]}', "bad file"),
    ],
)
def test_a_bad_index_is_named(raw: bytes, problem: str):
    with pytest.raises(sources.SourceError, match=problem):
        sources.parse_index(raw)


def test_the_api_checks_the_source_and_installs_on_request(user_client: Client, plant: Plant, folder: Path):
    assert user_client.post("/api/v1/device/update/check", [1, 2], content_type="application/json").status_code == 400
    found = user_client.post("/api/v1/device/update/check", {}, content_type="application/json")
    assert found.status_code == 200 and found.json()["available_version"] == "0.3.0" and current() is None
    done = user_client.post("/api/v1/device/update/check", {"install": True}, content_type="application/json")
    assert done.status_code == 200 and done.json()["installed_version"] == "0.3.0"
    assert current() == "0.3.0"


def test_the_api_says_when_no_source_is_configured(user_client: Client, plant: Plant):
    answer = user_client.post("/api/v1/device/update/check", {}, content_type="application/json")
    assert answer.status_code == 409 and "KSEM_UPDATE_URL" in answer.json()["detail"]
