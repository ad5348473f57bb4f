"""The HTTPS certificate over the API (ACC-3): status, upload, a new self-signed one; installers change it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from ksem_site import certificates
from ksem_site.tests.test_https_page import _rsa_pair, https_dir, installer  # noqa: F401 (fixtures)
from plant.models import Plant
from portal.models import Membership

pytestmark = pytest.mark.django_db

URL = "/api/v1/https/certificate"


def upload(client: Client, key: bytes, cert: bytes):
    files = {"key": SimpleUploadedFile("server.key", key), "certificate": SimpleUploadedFile("server.crt", cert)}
    return client.post(URL, files)


def test_status_upload_and_regenerate(installer: Client, https_dir: Path) -> None:  # noqa: F811
    status = installer.get(URL).json()
    assert status["installed"] is True and status["self_signed"] is True and len(status["fingerprint_sha256"]) == 64

    key, cert = _rsa_pair()
    uploaded = upload(installer, key, cert)
    assert uploaded.status_code == 200, uploaded.content
    assert (
        uploaded.json()["fingerprint_sha256"]
        == certificates.describe(certificates.server_pem(https_dir)).fingerprint_sha256
    )
    assert uploaded.json()["fingerprint_sha256"] != status["fingerprint_sha256"]

    again = installer.post(URL + "/regenerate").json()
    assert again["self_signed"] is True
    assert again["fingerprint_sha256"] not in (status["fingerprint_sha256"], uploaded.json()["fingerprint_sha256"])


def test_a_bad_pair_is_refused_with_the_pages_message_and_nothing_changes(installer: Client, https_dir: Path) -> None:  # noqa: F811
    before = installer.get(URL).json()["fingerprint_sha256"]
    key, _ = _rsa_pair()
    _, other_cert = _rsa_pair()
    response = upload(installer, key, other_cert)
    assert response.status_code == 400 and response.json()["detail"]
    missing = installer.post(URL, {"key": SimpleUploadedFile("server.key", key)})
    assert missing.status_code == 400 and "certificate" in missing.json()
    assert installer.get(URL).json()["fingerprint_sha256"] == before


def test_an_operator_reads_but_cannot_change_it(https_dir: Path) -> None:  # noqa: F811
    plant = Plant.objects.create(name="Home")
    user = get_user_model().objects.create_user("op", password="Good-Pass-12")
    Membership.objects.create(user=user, plant=plant, role=Membership.Role.OPERATOR)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 200
    assert client.post(URL + "/regenerate").status_code == 403
    key, cert = _rsa_pair()
    assert upload(client, key, cert).status_code == 403


def test_it_is_in_the_schema(installer: Client) -> None:  # noqa: F811
    paths = installer.get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/https/certificate" in paths and "/api/v1/https/certificate/regenerate" in paths
