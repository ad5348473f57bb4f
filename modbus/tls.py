"""TLS for the Modbus slave (MB-2): the server's own key pair, and trust by certificate fingerprint.

The key pair (EC P-256) and a self-signed certificate are generated on first start and kept in
the var directory. TLS 1.2 is the minimum. Client certificates are requested and required, but
not verified against any authority: an installer accepts a certificate by its SHA-256
fingerprint. Python's ``ssl`` module has no verification callback, so the server context
watches the handshake (``SSLContext._msg_callback``, which sees the client's Certificate
message, decrypted on TLS 1.3 too) and adds each presented certificate to its own trust store
before OpenSSL verifies it. Every client with a well-formed certificate then completes the
handshake; whether its requests are served is decided per request from the fingerprint
(``modbus.slave.tcp``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

CERT_VALID_DAYS = 20 * 365
# Certificates added to one context's trust store; beyond this the context refuses new ones
# (a flood of throw-away certificates must not grow the store without bound).
MAX_TRUST_STORE = 1000


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def subject_of(der: bytes) -> str:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(unreadable certificate)"


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    cert_path: Path
    key_path: Path

    @property
    def cert_der(self) -> bytes:
        pem = self.cert_path.read_bytes()
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_der)


def identity_paths(directory: Path) -> ServerIdentity:
    return ServerIdentity(directory / "server-cert.pem", directory / "server-key.pem")


def ensure_identity(directory: Path, common_name: str = "KSEM energy manager Modbus") -> ServerIdentity:
    """The server's key pair and certificate, generated on first use."""
    identity = identity_paths(directory)
    if identity.cert_path.exists() and identity.key_path.exists():
        return identity
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    identity.key_path.touch(mode=0o600)
    identity.key_path.write_bytes(key_pem)
    identity.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("generated the Modbus TLS key pair, certificate fingerprint %s", identity.fingerprint)
    return identity


def _first_certificate(message: bytes, tls13: bool) -> bytes | None:
    """The leaf certificate (DER) of a TLS Certificate handshake message (with its 4-byte header)."""
    body = message[4:]
    index = 0
    if tls13:  # certificate_request_context first
        index = 1 + body[0]
    total = int.from_bytes(body[index : index + 3], "big")
    index += 3
    if total == 0 or len(body) < index + 3:
        return None
    length = int.from_bytes(body[index : index + 3], "big")
    index += 3
    der = body[index : index + length]
    return der if len(der) == length and length else None


def server_context(identity: ServerIdentity, on_certificate: Callable[[bytes], None]) -> ssl.SSLContext:
    """TLS >= 1.2, a client certificate required; every presented certificate passes the handshake
    and is reported to ``on_certificate`` (DER) for the fingerprint check."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(identity.cert_path, identity.key_path)
    context.verify_mode = ssl.CERT_REQUIRED
    # A certificate in the store is a trust anchor even if it is not self-signed.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    # The store must not be empty, or OpenSSL sends no acceptable-CA list and some clients stop.
    context.load_verify_locations(cadata=identity.cert_der)
    added: set[str] = set()

    def watch(
        connection: object, direction: str, version: object, content_type: object, msg_type: object, data: bytes
    ) -> None:
        if direction != "read" or content_type != ssl._TLSContentType.HANDSHAKE:  # type: ignore[attr-defined]
            return
        if msg_type != ssl._TLSMessageType.CERTIFICATE:  # type: ignore[attr-defined]
            return
        try:
            der = _first_certificate(data, version == ssl.TLSVersion.TLSv1_3)
        except IndexError:
            der = None
        if not der:
            return
        digest = fingerprint(der)
        if digest not in added and len(added) < MAX_TRUST_STORE:
            try:
                context.load_verify_locations(cadata=der)
                added.add(digest)
            except ssl.SSLError:
                return  # not a certificate OpenSSL can load: the handshake fails
        on_certificate(der)

    # The ssl module's handshake message hook (private, present since Python 3.8).
    context._msg_callback = watch  # type: ignore[attr-defined]
    return context
