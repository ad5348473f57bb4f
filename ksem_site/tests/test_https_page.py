"""The installer's HTTPS certificate page: upload a key and certificate, validated (ACC-5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from ksem_site import certificates
from tests.pages import by_testid

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

pytestmark = pytest.mark.django_db

URL = "/settings/https/"


@pytest.fixture
def https_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "https"
    certificates.ensure_certificate(directory)
    with override_settings(HTTPS_DIR=directory):
        yield directory


@pytest.fixture
def installer() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("installer", password="Secret-Pass-1"))
    return client


def _split(pem: bytes) -> tuple[bytes, bytes]:
    end = b"-----END PRIVATE KEY-----\n"
    index = pem.index(end) + len(end)
    return pem[:index], pem[index:]


def _upload(client: Client, key: bytes, cert: bytes) -> _MonkeyPatchedWSGIResponse:
    response = client.post(
        URL,
        {"key": SimpleUploadedFile("server.key", key), "certificate": SimpleUploadedFile("server.crt", cert)},
    )
    return response


def _rsa_pair(bits: int = 2048, days: int = 365, password: bytes | None = None) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ksem.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def test_the_page_shows_the_certificate_in_use(installer: Client, https_dir: Path) -> None:
    page = installer.get(URL)

    assert page.status_code == 200
    shown = by_testid(page.content.decode(), "cert-fingerprint")[0]
    assert shown == certificates.describe(certificates.server_pem(https_dir)).fingerprint_sha256


def test_a_good_pair_is_installed_and_shown(installer: Client, https_dir: Path) -> None:
    key, cert = _rsa_pair()

    response = _upload(installer, key, cert)

    assert response.status_code == 302
    info = certificates.describe(certificates.server_pem(https_dir))
    assert info.subject == "CN=ksem.example"
    page = installer.get(URL).content.decode()
    assert by_testid(page, "cert-subject")[0] == "CN=ksem.example"
    assert "is installed" in page


def _refused(installer: Client, https_dir: Path, key: bytes, cert: bytes, message: str) -> None:
    before = certificates.server_pem(https_dir).read_bytes()

    response = _upload(installer, key, cert)

    assert response.status_code == 400
    assert message in by_testid(response.content.decode(), "form-error")[0]
    assert certificates.server_pem(https_dir).read_bytes() == before
    assert [p.name for p in https_dir.iterdir()] == [certificates.SERVER_PEM]  # no temporary file left


def test_a_mismatched_pair_is_refused_and_nothing_changes(installer: Client, https_dir: Path) -> None:
    key, _ = _rsa_pair()
    _, other_cert = _rsa_pair()
    _refused(installer, https_dir, key, other_cert, "does not belong to the certificate")


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        ("key", b"this is not a key", "not a PEM private key"),
        ("cert", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM certificate"),
        ("key", b"", "is empty"),
        ("cert", b"\x00\xff" * 40_000, "larger than 64 KB"),
    ],
)
def test_garbage_is_refused_with_a_message(
    installer: Client, https_dir: Path, which: str, content: bytes, message: str
) -> None:
    key, cert = _rsa_pair()
    if which == "key":
        key = content
    else:
        cert = content
    if content == b"":
        response = _upload(installer, key, cert)
        assert response.status_code == 400  # Django names the empty file on the field
        assert certificates.server_pem(https_dir).exists()
        return
    _refused(installer, https_dir, key, cert, message)


def test_a_password_protected_key_is_refused(installer: Client, https_dir: Path) -> None:
    key, cert = _rsa_pair(password=b"secret")
    _refused(installer, https_dir, key, cert, "protected by a password")


def test_a_weak_rsa_key_is_refused(installer: Client, https_dir: Path) -> None:
    key, cert = _rsa_pair(bits=1024)
    _refused(installer, https_dir, key, cert, "at least 2048")


def test_an_expired_certificate_is_refused(installer: Client, https_dir: Path) -> None:
    key, cert = _rsa_pair(days=-1)
    _refused(installer, https_dir, key, cert, "expired")


def test_a_person_who_is_not_an_installer_cannot_upload(https_dir: Path) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("visitor", password="Secret-Pass-1"))
    before = certificates.server_pem(https_dir).read_bytes()
    key, cert = _split(certificates.generate())

    response = _upload(client, key, cert)

    assert response.status_code == 403
    assert certificates.server_pem(https_dir).read_bytes() == before


def test_the_upload_needs_the_csrf_token(https_dir: Path) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_superuser("installer", password="Secret-Pass-1"))
    before = certificates.server_pem(https_dir).read_bytes()
    key, cert = _split(certificates.generate())

    assert _upload(client, key, cert).status_code == 403
    assert certificates.server_pem(https_dir).read_bytes() == before
