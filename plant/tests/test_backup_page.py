"""Device > Backup (DEV-6) and ``manage.py backup``: a backup made on the page downloads as one
file that restores the state it was made in; refused files say why and change nothing; only
installers of the whole device may touch backups."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

import redisconn
from access.limits import BodyLimit
from events.models import BACKUP_RESULT, Event
from meter.models import Meter
from plant import backup_views, backups, live
from plant.models import Plant
from portal import backup_format
from portal.models import Membership
from portal.tests.test_backup import PASSWORD, dump
from tests.pages import by_testid

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _jobs_run_here(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Jobs run in this process as the worker runs them (Celery's eager mode); files in a fresh folder."""
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - registers the task

    settings.VAR_DIR = tmp_path
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def plant() -> Plant:
    plant = Plant.objects.create(name="Home")
    Meter.objects.create(plant=plant, host="192.0.2.10")
    return plant


def make_backup(client: Client) -> bytes:
    answer = client.post("/device/backup/create/", {"password": PASSWORD, "password_again": PASSWORD})
    assert answer.status_code == 202, answer.content
    job = client.get(f"/device/backup/jobs/{answer.json()['id']}/").json()
    assert job["state"] == "done", job
    assert job["progress_pct"] == 100
    download = client.get(f"/device/backup/files/{job['file']}")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    return b"".join(download.streaming_content)  # type: ignore[attr-defined]


def upload(client: Client, data: bytes, password: str = PASSWORD) -> Any:
    file = SimpleUploadedFile("backup.ksembak", data, content_type="application/octet-stream")
    return client.post("/device/backup/restore/", {"file": file, "password": password})


def dump_and_backup_events() -> tuple[dict[str, Any], list[str]]:
    """Every table but the event log, and the event log's backup results: a restore brings back
    the state it was made in, and then logs that it did (DEV-3)."""
    tables = dump()
    tables.pop("events.event")
    return tables, list(Event.objects.filter(kind=BACKUP_RESULT).order_by("id").values_list("message", flat=True))


def test_the_page_is_in_the_menu(user_client: Client, plant: Plant):
    page = user_client.get("/device/backup/").content.decode()
    assert by_testid(page, "menu-backup")
    assert by_testid(page, "backup-create-form") and by_testid(page, "backup-restore-form")


def test_a_backup_from_the_page_restores_the_state_it_was_made_in(user_client: Client, plant: Plant):
    before, _ = dump_and_backup_events()
    data = make_backup(user_client)
    assert data.startswith(backup_format.MAGIC)
    Plant.objects.filter(pk=plant.pk).update(name="Changed")
    Plant.objects.create(name="Another")
    answer = upload(user_client, data)
    assert answer.status_code == 202, answer.content
    job = user_client.get(f"/device/backup/jobs/{answer.json()['id']}/").json()
    assert (job["state"], job["kind"]) == ("done", "restore"), job
    after, logged = dump_and_backup_events()
    assert after == before
    assert len(logged) == 1 and logged[0].startswith("backup restored: ")
    assert not list(backups.backup_dir().glob("restore-*"))  # the upload is gone


@pytest.mark.parametrize(
    ("spoil", "password", "reason", "words"),
    [
        (lambda d: d, "not the password", "wrong_password", "password is wrong"),
        (lambda d: b"just some text\n" * 50, PASSWORD, "not_backup", "not a backup"),
        (lambda d: d[: len(d) // 2], PASSWORD, "truncated", "truncated"),
    ],
)
def test_refused_uploads_say_why_and_change_nothing(user_client: Client, plant: Plant, spoil, password, reason, words):
    data = make_backup(user_client)
    Plant.objects.filter(pk=plant.pk).update(name="Changed")
    before = dump()
    answer = upload(user_client, spoil(data), password)
    assert answer.status_code == 400
    assert answer.json()["reason"] == reason
    assert words in str(answer.json()["errors"])
    assert dump() == before
    assert not list(backups.backup_dir().glob("restore-*"))


def test_a_damaged_body_fails_the_restore_job_and_changes_nothing(user_client: Client, plant: Plant):
    data = bytearray(make_backup(user_client))
    data[len(data) // 2] ^= 0x40
    Plant.objects.filter(pk=plant.pk).update(name="Changed")
    before, logged_before = dump_and_backup_events()
    answer = upload(user_client, bytes(data))
    assert answer.status_code == 202
    job = user_client.get(f"/device/backup/jobs/{answer.json()['id']}/").json()
    assert (job["state"], job["reason"]) == ("failed", "damaged"), job
    assert "damaged" in job["message"]
    after, logged = dump_and_backup_events()
    assert after == before
    assert logged[:-1] == logged_before and logged[-1].startswith("restore refused: The backup file is damaged")


def test_an_upload_over_the_limit_is_refused_before_it_is_read(user_client: Client, plant: Plant, monkeypatch):
    monkeypatch.setattr(backup_views.restore, "body_limit", BodyLimit(1000, "backup file"))
    answer = upload(user_client, b"x" * 5000)
    assert answer.status_code == 413
    assert "backup file" in answer.content.decode()


def test_the_two_passwords_must_match_and_be_long_enough(user_client: Client, plant: Plant):
    answer = user_client.post("/device/backup/create/", {"password": PASSWORD, "password_again": "other"})
    assert answer.status_code == 400 and "differ" in str(answer.json()["errors"])
    answer = user_client.post("/device/backup/create/", {"password": "short", "password_again": "short"})
    assert answer.status_code == 400 and "password" in answer.json()["errors"]


def test_only_installers_of_the_whole_device_touch_backups(client: Client, user_client: Client, plant: Plant):
    data = make_backup(user_client)
    (name,) = [p.name for p in backups.backup_dir().glob("*.ksembak")]
    user = get_user_model().objects.create_user("olga", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role="installer")
    Membership.objects.create(user=user, plant=Plant.objects.create(name="Other"), role="operator")
    client.force_login(user)
    assert client.get("/device/backup/").status_code == 403
    assert client.get(f"/device/backup/files/{name}").status_code == 403
    assert client.post("/device/backup/create/", {"password": PASSWORD, "password_again": PASSWORD}).status_code == 403
    assert upload(client, data).status_code == 403
    assert Plant.objects.filter(name="Home").exists()


def test_file_names_from_outside_cannot_leave_the_backup_folder(user_client: Client, plant: Plant):
    assert user_client.get("/device/backup/files/..%2Fsecret_key").status_code == 404
    assert user_client.get("/device/backup/files/restore-" + "0" * 32 + ".upload").status_code == 404


def test_the_command_creates_and_restores(plant: Plant, tmp_path: Path, monkeypatch):
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    out = tmp_path / "site.ksembak"
    before = dump()
    stdout = io.StringIO()
    call_command("backup", "create", "--out", str(out), "--password-file", str(password_file), "--quiet", stdout=stdout)
    assert "Backup written" in stdout.getvalue() and out.stat().st_size > 100
    Plant.objects.create(name="Another")
    monkeypatch.setenv("KSEM_BACKUP_PASSWORD", PASSWORD)
    announced = redisconn.sync_redis().get(live.config_generation_key())
    call_command("backup", "restore", str(out), "--quiet", stdout=io.StringIO())
    assert dump() == before
    # The workers are told: every plant's next cycle runs with the restored settings.
    assert redisconn.sync_redis().get(live.config_generation_key()) != announced


def test_the_command_fails_with_the_reason(plant: Plant, tmp_path: Path, monkeypatch):
    out = tmp_path / "site.ksembak"
    monkeypatch.setenv("KSEM_BACKUP_PASSWORD", PASSWORD)
    call_command("backup", "create", "--out", str(out), "--quiet", stdout=io.StringIO())
    monkeypatch.setenv("KSEM_BACKUP_PASSWORD", "wrong")
    with pytest.raises(CommandError, match=r"password is wrong.*\[wrong_password\]"):
        call_command("backup", "restore", str(out), "--quiet")
    monkeypatch.delenv("KSEM_BACKUP_PASSWORD")
    with pytest.raises(CommandError, match="no password"):
        call_command("backup", "restore", str(out))
    with pytest.raises(CommandError, match="not UTF-8 text"):
        call_command("backup", "restore", str(out), "--password-file", str(out))
    monkeypatch.setenv("KSEM_BACKUP_PASSWORD", PASSWORD)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("backup", "restore", str(tmp_path / "missing"))
    text = tmp_path / "notes.txt"
    text.write_text("text" * 100)
    with pytest.raises(CommandError, match=r"not a backup.*\[not_backup\]"):
        call_command("backup", "restore", str(text), "--quiet")


def token(role: str) -> dict[str, str]:
    from access import services as access_services
    from portal.services import device_user, ensure_device_user

    ensure_device_user()
    new = access_services.create_token(
        name=f"backup-{role}", role=role, expires_on=dt.date.today() + dt.timedelta(days=3), user=device_user(),
        authorise=True,
    )  # fmt: skip
    return {"Authorization": f"Bearer {new.secret}"}


def test_the_api_makes_and_restores_a_backup_with_an_admin_token(client: Client, plant: Plant):
    headers = token("admin")
    before = dump()
    started = client.post(
        "/api/v1/device/backup", {"password": PASSWORD}, content_type="application/json", headers=headers
    )
    assert started.status_code == 202, started.content
    job = client.get(f"/api/v1/device/backup/jobs/{started.json()['id']}", headers=headers).json()
    assert job["state"] == "done" and job["file"].endswith(".ksembak")
    download = client.get(f"/api/v1/device/backup/files/{job['file']}", headers=headers)
    data = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    Plant.objects.create(name="Another")
    refused = client.post(
        "/api/v1/device/backup/restore",
        {"file": SimpleUploadedFile("b.ksembak", data), "password": "wrong one"},
        headers=headers,
    )
    assert refused.status_code == 400 and refused.json()["reason"] == "wrong_password"
    restored = client.post(
        "/api/v1/device/backup/restore", {"file": SimpleUploadedFile("b.ksembak", data), "password": PASSWORD},
        headers=headers,
    )  # fmt: skip
    assert restored.status_code == 202, restored.content
    assert client.get(f"/api/v1/device/backup/jobs/{restored.json()['id']}", headers=headers).json()["state"] == "done"
    assert [row[:2] for row in dump()["plant.plant"]] == [row[:2] for row in before["plant.plant"]]


def test_an_api_token_may_not_touch_backups(client: Client, plant: Plant):
    headers = token("api")
    assert client.post("/api/v1/device/backup", {"password": PASSWORD}, content_type="application/json",
                       headers=headers).status_code == 403  # fmt: skip
    assert client.get("/api/v1/device/backup/jobs/x", headers=headers).status_code == 403
