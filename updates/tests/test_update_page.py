"""Device > Software update (DEV-4): an uploaded package is checked before anything is written;
a good one is installed as a release with progress and its version shown afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from plant.models import Plant
from portal.models import Membership
from tests.pages import by_testid, text_of
from updates import package, version
from updates.models import UpdateRecord, UpdateSettings
from updates.tests.conftest import Keys, file_member, make_package, tar_gz

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


def upload(client: Client, data: bytes, url: str = "/device/update/upload/") -> Any:
    return client.post(url, {"file": SimpleUploadedFile("ksem.ksemupd", data, content_type="application/octet-stream")})


def written() -> dict[str, Any]:
    """Everything an install could write: the var folder's files and the update tables."""
    var = Path(settings.VAR_DIR)
    return {
        "files": sorted(str(p.relative_to(var)) for p in var.rglob("*")),
        "settings": list(UpdateSettings.objects.values()),
        "records": list(UpdateRecord.objects.values()),
    }


def test_a_package_with_a_bad_signature_is_refused_before_anything_is_written(
    user_client: Client, plant: Plant, keys: Keys
):
    other = Keys(package.load_private_key(package.new_key_pair()[0]), keys.public_path)  # not the product's key
    user_client.get("/device/update/")  # the page's own visit may create the settings row
    before = written()

    answer = upload(user_client, make_package(other, "0.2.0"))

    assert answer.status_code == 400
    assert answer.json()["reason"] == "bad_signature"
    assert "signature" in answer.json()["errors"]["file"][0]["message"]
    assert written() == before
    assert not (Path(settings.VAR_DIR) / "releases").exists()


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda keys: make_package(keys, version.VERSION), "downgrade"),
        (lambda keys: make_package(keys, "0.0.1"), "downgrade"),
        (
            lambda keys: make_package(keys, "0.2.0", payload=tar_gz([file_member("../../etc/evil", b"x")])),
            "unsafe_member",
        ),
        (lambda keys: make_package(keys, "0.2.0", payload=tar_gz([file_member("/abs/evil", b"x")])), "unsafe_member"),
        (lambda keys: make_package(keys, "0.2.0", payload=b"\x1f\x8b but no gzip"), "broken_archive"),
        (lambda keys: make_package(keys, "0.2.0")[:-100], "truncated"),
        (lambda keys: b"no package at all", "not_package"),
    ],
    ids=["same-version", "older", "traversal", "absolute", "not-tar", "truncated", "not-package"],
)
def test_refused_packages_say_why_and_write_nothing(user_client: Client, plant: Plant, keys: Keys, make, why: str):
    user_client.get("/device/update/")
    before = written()
    answer = upload(user_client, make(keys))
    assert answer.status_code == 400, answer.content
    assert answer.json()["reason"] == why
    assert written() == before


def test_a_good_package_is_installed_and_its_version_shown(user_client: Client, plant: Plant, keys: Keys):
    answer = upload(user_client, make_package(keys, "0.2.0"))
    assert answer.status_code == 202, answer.content
    job = user_client.get(f"/device/update/jobs/{answer.json()['id']}/").json()
    assert job["state"] == "done", job
    assert job["progress_pct"] == 100 and job["version"] == "0.2.0" and job["restart_needed"]

    releases = Path(settings.VAR_DIR) / "releases"
    assert os.readlink(releases / "current") == "0.2.0"
    assert (releases / "current" / "updates" / "version.py").read_text() == 'VERSION = "0.2.0"\n'
    assert sorted(p.name for p in releases.iterdir()) == ["0.2.0", "current"], "no partial folder left"
    assert [p.name for p in (Path(settings.VAR_DIR) / "updates").iterdir()] == [".install.lock"], (
        "the upload is removed"
    )

    page = user_client.get("/device/update/").content.decode()
    assert text_of(page, "running-version") == version.VERSION
    assert text_of(page, "installed-version") == "0.2.0"
    assert "restart" in text_of(page, "restart-needed")
    assert "After a restart every process runs the code of version 0.2.0" in text_of(page, "restart-needed")
    assert "No supervisor runs this product here" in text_of(page, "not-supervised")  # no supervisor.sock in tests
    assert "update_rollback" in text_of(page, "rollback-hint")
    (Path(settings.VAR_DIR) / "supervisor.sock").touch()  # under supervisord: the device page restarts it
    page = user_client.get("/device/update/").content.decode()
    assert by_testid(page, "restart-link")[1]["href"] == "/device/#restart-title"
    assert 'data-testid="not-supervised"' not in page
    assert "0.1.0 → 0.2.0" in text_of(page, "update-history")
    assert UpdateRecord.objects.get().installed_by == "someone"

    again = upload(user_client, make_package(keys, "0.2.0"))
    assert again.status_code == 400 and again.json()["reason"] == "downgrade", "the installed release counts too"
    newer = upload(user_client, make_package(keys, "0.3.0"))
    assert user_client.get(f"/device/update/jobs/{newer.json()['id']}/").json()["state"] == "done"
    assert os.readlink(releases / "current") == "0.3.0"


def test_the_version_is_in_the_header_and_in_health(user_client: Client, plant: Plant):
    page = user_client.get("/device/update/").content.decode()
    assert text_of(page, "product-version") == version.VERSION
    assert by_testid(page, "menu-update")[1]["href"] == "/device/update/"
    assert Client().get("/api/health").json()["version"] == version.VERSION


def test_the_mode_is_stored_and_validated(user_client: Client, plant: Plant):
    assert user_client.post("/device/update/mode/", {"mode": "automatic"}).status_code == 302
    assert UpdateSettings.load().mode == "automatic"
    assert user_client.post("/device/update/mode/", {"mode": "sometimes"}).status_code == 400
    assert UpdateSettings.load().mode == "automatic"
    api = user_client.put("/api/v1/device/update", {"mode": "manual"}, content_type="application/json")
    assert api.status_code == 200 and api.json()["mode"] == "manual"
    bad = user_client.put("/api/v1/device/update", {"mode": "never"}, content_type="application/json")
    assert bad.status_code == 400 and "mode" in bad.json()
    assert UpdateSettings.load().mode == "manual"


def test_operators_see_the_version_but_change_nothing(client: Client, plant: Plant, keys: Keys):
    user = get_user_model().objects.create_user("olga", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role="operator")
    client.force_login(user)
    page = client.get("/device/update/")
    assert page.status_code == 200
    assert text_of(page.content.decode(), "running-version") == version.VERSION
    assert "update-upload-form" not in page.content.decode()
    assert client.post("/device/update/mode/", {"mode": "manual"}).status_code == 403
    assert upload(client, make_package(keys, "0.2.0")).status_code == 403
    assert client.put("/api/v1/device/update", {"mode": "manual"}, content_type="application/json").status_code == 403
    assert upload(client, make_package(keys, "0.2.0"), "/api/v1/device/update/package").status_code == 403
    assert UpdateSettings.load().mode == "notify"
    assert not (Path(settings.VAR_DIR) / "releases").exists()


def test_the_api_installs_a_package_and_refuses_a_bad_one(user_client: Client, plant: Plant, keys: Keys):
    bad = upload(user_client, make_package(keys, "0.0.1"), "/api/v1/device/update/package")
    assert bad.status_code == 400 and bad.json()["reason"] == "downgrade"
    good = upload(user_client, make_package(keys, "0.2.0"), "/api/v1/device/update/package")
    assert good.status_code == 202
    job = user_client.get(f"/api/v1/device/update/jobs/{good.json()['id']}").json()
    assert job["state"] == "done"
    state = user_client.get("/api/v1/device/update").json()
    assert state["version"] == version.VERSION and state["installed_version"] == "0.2.0"
    assert state["restart_needed"] is True and state["history"][0]["source"] == "upload"


def test_sign_update_builds_a_package_the_product_installs(
    user_client: Client, plant: Plant, keys: Keys, tmp_path: Path, monkeypatch
):
    from cryptography.hazmat.primitives import serialization

    pem = keys.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    release = tmp_path / "release"
    (release / "updates").mkdir(parents=True)
    (release / "updates" / "version.py").write_text('VERSION = "0.4.0"\n')
    (release / "__pycache__").mkdir()
    (release / "__pycache__" / "x.pyc").write_bytes(b"skipped")
    out = tmp_path / "dist" / "ksem-0.4.0.ksemupd"

    monkeypatch.delenv("KSEM_UPDATE_SIGNING_KEY", raising=False)
    with pytest.raises(CommandError, match="KSEM_UPDATE_SIGNING_KEY is not set"):
        call_command("sign_update", "--package-version", "0.4.0", "--out", str(out), "--source", str(release))
    monkeypatch.setenv("KSEM_UPDATE_SIGNING_KEY", pem)
    call_command("sign_update", "--package-version", "0.4.0", "--out", str(out), "--source", str(release), "--index")

    assert '"file": "ksem-0.4.0.ksemupd"' in (out.parent / "index.json").read_text()
    answer = upload(user_client, out.read_bytes())
    assert answer.status_code == 202, answer.content
    current = Path(settings.VAR_DIR) / "releases" / "current"
    assert (current / "updates" / "version.py").read_text() == 'VERSION = "0.4.0"\n'
    assert not (current / "__pycache__").exists()


def test_the_header_says_update_running_while_an_install_job_runs(user_client: Client, plant: Plant):
    import devicejobs

    job = devicejobs.update_job("f" * 32, kind="updates.install", state="running", progress_pct=40.0)
    UpdateSettings.objects.create(pk=1, job_id=job["id"])
    page = user_client.get("/device/update/").content.decode()
    assert by_testid(page, "device-status")[1]["data-state"] == "update"
    assert text_of(page, "device-status") == "Update running 40 %"
    devicejobs.update_job(job["id"], state="done")
    assert by_testid(user_client.get("/device/update/").content.decode(), "device-status")[1]["data-state"] != "update"


def test_the_page_and_its_refusals_speak_german(user_client: Client, plant: Plant, keys: Keys):
    user_client.cookies["django_language"] = "de"
    page = user_client.get("/device/update/").content.decode()
    assert "Software-Update" in page and "Laufende Version" in page
    answer = upload(user_client, make_package(keys, "0.0.1"))
    assert answer.json()["errors"]["file"][0]["message"].startswith("Das Paket ist nicht neuer")


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    user_client: Client, plant: Plant, keys: Keys, monkeypatch
):
    from access.limits import BodyLimit
    from updates import api, views

    monkeypatch.setattr(views.upload, "body_limit", BodyLimit(1000, "update package"))
    monkeypatch.setattr(api.PackageView, "body_limit", BodyLimit(1000, "update package"))
    data = make_package(keys, "0.2.0") + b"x" * 2000
    for url in ("/device/update/upload/", "/api/v1/device/update/package"):
        answer = upload(user_client, data, url)
        assert answer.status_code == 413 and "update package" in answer.content.decode()
    assert not (Path(settings.VAR_DIR) / "releases").exists()


def test_update_rollback_points_current_to_the_previous_release_then_removes_it(
    user_client: Client, plant: Plant, keys: Keys
):
    with pytest.raises(CommandError, match="No release is installed"):
        call_command("update_rollback")
    for new in ("0.2.0", "0.3.0"):
        assert upload(user_client, make_package(keys, new)).status_code == 202
    releases = Path(settings.VAR_DIR) / "releases"
    assert os.readlink(releases / "current") == "0.3.0"

    call_command("update_rollback")
    assert os.readlink(releases / "current") == "0.2.0"
    assert user_client.get("/api/v1/device/update").json()["installed_version"] == "0.2.0"
    call_command("update_rollback")  # nothing older: the checkout runs after the next restart
    assert not (releases / "current").exists() and sorted(p.name for p in releases.iterdir()) == ["0.2.0", "0.3.0"]
    state = user_client.get("/api/v1/device/update").json()
    assert state["installed_version"] is None and state["restart_needed"] is False
    with pytest.raises(CommandError, match="No release is installed"):
        call_command("update_rollback")
