"""The system logs (DEV-8): the download for a period holds exactly the lines of that period,
from every process's file (rotations included), tracebacks with the line they belong to."""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import Client

from device import logfiles
from device.models import DeviceSettings
from plant.models import Plant

pytestmark = pytest.mark.django_db

WEB_OLD = """2026-03-01T09:59:59.999Z INFO web: before the period
2026-03-01T10:00:00.000Z INFO web: first in the period
"""
WEB = """2026-03-01T10:30:00.000Z ERROR web: failed
Traceback (most recent call last):
  File "x.py", line 1
ValueError: boom
2026-03-01T11:00:00.000Z INFO web: at the end, outside
  continuation of the outside line
"""
WORKER = """2026-03-01T10:59:59.500Z WARNING worker: last in the period
2026-03-02T10:30:00.000Z INFO worker: a day later
"""


@pytest.fixture
def logs(settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "web.log.1").write_text(WEB_OLD)
    (folder / "web.log").write_text(WEB)
    (folder / "worker.log").write_text(WORKER)
    (folder / "supervisord.log").write_text("2026-03-01 10:15:00,000 INFO exited: beat (exit status 1)\n")
    (folder / "notes.txt").write_text("2026-03-01T10:30:00.000Z not a log file\n")
    return folder


def _members(content: bytes) -> dict[str, list[str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode().splitlines() for name in archive.namelist()}


@pytest.fixture
def host_zone(monkeypatch) -> Iterator[Callable[[str], None]]:
    """Set the host's local time zone (supervisord writes its own lines in it)."""

    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def test_the_download_holds_only_the_lines_of_the_period(user_client: Client, logs: Path, host_zone):
    host_zone("UTC")
    Plant.objects.create(name="Home")
    DeviceSettings.objects.create(pk=1, time_zone="Europe/Berlin")  # UTC+1 in March
    response = user_client.get("/device/logs/", {"start": "2026-03-01T11:00", "end": "2026-03-01T12:00"})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert "ksem-logs-20260301T1000Z-20260301T1100Z.zip" in response["Content-Disposition"]
    members = _members(response.getvalue())
    assert members["web.log"] == [
        "2026-03-01T10:00:00.000Z INFO web: first in the period",
        "2026-03-01T10:30:00.000Z ERROR web: failed",
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "ValueError: boom",
    ]
    assert members["worker.log"] == ["2026-03-01T10:59:59.500Z WARNING worker: last in the period"]
    assert members["supervisord.log"] == ["2026-03-01 10:15:00,000 INFO exited: beat (exit status 1)"]
    assert "notes.txt" not in members
    # The API: the same period with an explicit zone.
    api = user_client.get("/api/v1/device/logs", {"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"})
    assert api.status_code == 200
    assert _members(api.getvalue())["worker.log"] == ["2026-03-02T10:30:00.000Z INFO worker: a day later"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"start": "2026-03-01T12:00", "end": "2026-03-01T11:00"}, "after the start"),
        ({"start": "2026-01-01T00:00", "end": "2026-03-01T00:00"}, "At most 31 days"),
        ({"start": "yesterday", "end": "2026-03-01T00:00"}, "valid date"),
        ({"end": "2026-03-01T00:00"}, "required"),
    ],
)
def test_a_bad_period_is_refused(user_client: Client, logs: Path, query: dict, words: str):
    Plant.objects.create(name="Home")
    response = user_client.get("/device/logs/", query)
    assert response.status_code == 400 and words in response.content.decode()
    api = user_client.get("/api/v1/device/logs", query)
    assert api.status_code == 400 and words in str(api.json())


def test_a_process_writes_its_file_in_utc_and_the_lines_are_found_again(tmp_path: Path):
    handler = logfiles.process_handler("web", str(tmp_path))
    logger = logging.getLogger("device.tests.sample")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        logger.warning("written by the test")
        after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    finally:
        logger.removeHandler(handler)
        handler.close()
    with open(tmp_path / "log" / "web.log") as source:
        (line,) = list(logfiles.lines_between(source, before, after))
    assert line.endswith("WARNING device.tests.sample: written by the test\n") and "Z " in line
    with pytest.raises(ValueError, match="letters"):
        logfiles.process_handler("../etc", str(tmp_path))


def test_local_supervisord_times_follow_the_host_zone(host_zone):
    host_zone("Europe/Berlin")
    assert logfiles.line_time("2026-03-01 11:15:00,250 INFO x") == dt.datetime(2026, 3, 1, 10, 15, 0, 250000, dt.UTC)
    assert logfiles.line_time("2026-03-01T11:15:00.250Z INFO x") == dt.datetime(2026, 3, 1, 11, 15, 0, 250000, dt.UTC)
    assert logfiles.line_time("  File x") is None and logfiles.line_time("2026-13-01 00:00:00 x") is None
