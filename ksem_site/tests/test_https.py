"""HTTPS (ACC-5): the real ``ksem_site.https_server`` as supervisord starts it, on a free port.

A client that trusts only the certificate the server generated on its first start reaches a
page and the API; TLS 1.0 and 1.1 clients are refused (while the same client completes a
handshake with a server that allows them, so the refusal is the product's, not the client's);
an uploaded certificate is served from the next connection on, without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from ksem_site import certificates
from plant.models import Plant
from tests.stack import BIN, ROOT, child_env, free_port

pytestmark = pytest.mark.django_db(transaction=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    # name -> (version, what SSLSocket.version() reports)
    OLD_VERSIONS = {"TLS 1.0": (ssl.TLSVersion.TLSv1, "TLSv1"), "TLS 1.1": (ssl.TLSVersion.TLSv1_1, "TLSv1.1")}


@dataclass
class HttpsServer:
    port: int
    directory: Path

    @property
    def pem(self) -> Path:
        return certificates.server_pem(self.directory)

    def trusting_client(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pem))

    def served_fingerprint(self) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw, context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha256(der).hexdigest()


def _wait(predicate: object, what: str, timeout_s: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except (OSError, ssl.SSLError, AssertionError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[HttpsServer]:
    server = HttpsServer(port=free_port(), directory=tmp_path / "https")
    log = (tmp_path / "https.log").open("ab")
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "ksem_site.https_server", "--host", "127.0.0.1", "--port", str(server.port)],
        cwd=ROOT,
        env=child_env(KSEM_HTTPS_DIR=str(server.directory)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: process.poll() is None and server.served_fingerprint(), "the HTTPS server to answer")
        yield server
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def _split(pem: bytes) -> tuple[bytes, bytes]:
    end = b"-----END PRIVATE KEY-----\n"
    index = pem.index(end) + len(end)
    return pem[:index], pem[index:]


def test_a_page_and_the_api_answer_over_tls_with_the_generated_certificate(https_server: HttpsServer) -> None:
    plant = Plant.objects.create(name="Home over TLS", time_zone="Europe/Berlin")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("installer", password="Secret-Pass-1"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    trusting = https_server.trusting_client()

    info = certificates.describe(https_server.pem)
    assert info.self_signed and "127.0.0.1" in info.names and "localhost" in info.names
    for host in ("127.0.0.1", "localhost"):  # without and with SNI
        with urllib.request.urlopen(f"https://{host}:{https_server.port}/login/", context=trusting, timeout=10) as page:
            assert page.status == 200
            assert b'name="csrfmiddlewaretoken"' in page.read()
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]

    request = urllib.request.Request(f"https://127.0.0.1:{https_server.port}/api/plants/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, context=trusting, timeout=10) as api:
        assert api.status == 200
        assert "no-store" in api.headers["Cache-Control"]
        assert plant.name in json.dumps(json.load(api))


def test_a_client_that_does_not_trust_the_certificate_gets_no_page(https_server: HttpsServer) -> None:
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{https_server.port}/login/", context=ssl.create_default_context())


def _old_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")  # lets this OpenSSL speak the old versions at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    return context


def _permissive_server(pem: Path) -> tuple[int, threading.Thread]:
    """A one-connection TLS server that still allows TLS 1.0/1.1: the control for the client."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            listener.settimeout(10)
            connection, _ = listener.accept()
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


@pytest.mark.parametrize("name", sorted(OLD_VERSIONS))
def test_tls_1_0_and_1_1_clients_are_refused(https_server: HttpsServer, name: str) -> None:
    version, reported = OLD_VERSIONS[name]
    client = _old_client(version)
    control_port, thread = _permissive_server(https_server.pem)
    with socket.create_connection(("127.0.0.1", control_port), timeout=5) as raw, client.wrap_socket(raw) as tls:
        assert tls.version() == reported  # this client can speak the old version
    thread.join(10)

    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as raw:
        client.wrap_socket(raw).close()

    modern = ssl.create_default_context(cafile=str(https_server.pem))
    with (
        socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as raw,
        modern.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_an_uploaded_certificate_is_served_from_the_next_connection_without_a_restart(
    https_server: HttpsServer,
) -> None:
    before = https_server.served_fingerprint()
    key, cert = _split(certificates.generate(["ksem.example"]))

    info = certificates.install_pair(https_server.directory, key, cert)

    assert info.fingerprint_sha256 != before
    _wait(lambda: https_server.served_fingerprint() == info.fingerprint_sha256, "the new certificate to be served")
    trusting = https_server.trusting_client()  # trusts the new one only
    with urllib.request.urlopen(f"https://127.0.0.1:{https_server.port}/login/", context=trusting, timeout=10) as page:
        assert page.status == 200


def test_a_broken_certificate_file_keeps_the_previous_certificate_in_service(https_server: HttpsServer) -> None:
    before = https_server.served_fingerprint()
    trusting = https_server.trusting_client()

    https_server.pem.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")

    for _ in range(5):  # several handshakes, each a chance to reload the broken file
        assert https_server.served_fingerprint() == before
        threading.Event().wait(0.5)
    with urllib.request.urlopen(f"https://127.0.0.1:{https_server.port}/login/", context=trusting, timeout=10) as page:
        assert page.status == 200


# --- certificate checks without a server ----------------------------------------------------------


def test_a_generated_certificate_names_this_machine_and_lasts_years() -> None:
    now = dt.datetime(2026, 5, 4, tzinfo=dt.UTC)
    key, cert = _split(certificates.generate(["ksem.local", "192.168.1.20", "*.wild", ".example"], now=now))

    combined = certificates.validate_pair(key, cert, now=now)

    assert combined.startswith(b"-----BEGIN PRIVATE KEY-----")
    from cryptography import x509

    leaf = x509.load_pem_x509_certificate(cert)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "ksem.local"} <= set(names.get_values_for_type(x509.DNSName))
    assert "*.wild" not in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1", "192.168.1.20"}
    assert leaf.not_valid_after_utc > now + dt.timedelta(days=9 * 365)


def test_ensure_certificate_creates_once_and_keeps_the_key_private(tmp_path: Path) -> None:
    first = certificates.ensure_certificate(tmp_path / "https")
    content = first.read_bytes()

    assert certificates.ensure_certificate(tmp_path / "https").read_bytes() == content
    assert first.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name", sorted(OLD_VERSIONS))
def test_the_minimum_version_is_ours_not_only_the_systems_default(tmp_path: Path, name: str) -> None:
    """Even with OpenSSL's security level lowered to 0 (which alone would allow TLS 1.0/1.1),
    the product's server context refuses them: the minimum is set in code."""
    server_context = certificates.server_context(certificates.ensure_certificate(tmp_path))
    server_context.set_ciphers("ALL:@SECLEVEL=0")
    assert server_context.minimum_version == ssl.TLSVersion.TLSv1_2
    server_side, client_side = socket.socketpair()
    outcome: list[BaseException | None] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(server_side, server_side=True):
                outcome.append(None)
        except (OSError, ssl.SSLError) as exc:
            outcome.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with pytest.raises(ssl.SSLError):
        _old_client(OLD_VERSIONS[name][0]).wrap_socket(client_side).close()
    client_side.close()
    thread.join(10)
    assert isinstance(outcome[0], ssl.SSLError) and outcome[0].reason in ("UNSUPPORTED_PROTOCOL", "VERSION_TOO_LOW")
