"""The HTTPS certificate of the web interface (ACC-5): generated on first start, or uploaded.

One file, ``<var>/https/server.pem``, holds the private key followed by the certificate chain
(leaf first), mode 0600. Keeping key and certificate in one file lets a replacement be a single
atomic rename: the HTTPS server, which re-reads the file when it changes, never sees a new key
beside an old certificate.

An uploaded pair is checked before anything is written: PEM, an unencrypted RSA (>= 2048 bit) or
EC key, a certificate whose public key is that key's, valid today, and a pair OpenSSL itself
accepts. A refused upload leaves the installed certificate as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

SERVER_PEM = "server.pem"
GENERATED_VALID_DAYS = 10 * 365
MAX_UPLOAD_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
COMMON_NAME = "KSEM energy manager"


class CertificateError(ValueError):
    """An uploaded key or certificate that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_valid_after: dt.datetime
    fingerprint_sha256: str
    self_signed: bool
    names: tuple[str, ...]


def server_pem(directory: Path) -> Path:
    return directory / SERVER_PEM


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in ["localhost", "127.0.0.1", "::1", socket.gethostname(), *hosts]:
        host = host.strip().strip("[]")
        if not host or host.startswith(".") or "*" in host or host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host.isascii():
                names.append(x509.DNSName(host))
    return names


def generate(hosts: list[str] | None = None, now: dt.datetime | None = None) -> bytes:
    """A new EC P-256 key and a self-signed certificate for this machine's names, as one PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    start = now or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(days=1))
        .not_valid_after(start + dt.timedelta(days=GENERATED_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hosts or [])), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def ensure_certificate(directory: Path, hosts: list[str] | None = None) -> Path:
    """The installed key + certificate file, generated on first use."""
    path = server_pem(directory)
    if not path.exists():
        _write_atomically(path, generate(hosts))
        log.info("generated a self-signed HTTPS certificate, SHA-256 %s", describe(path).fingerprint_sha256)
    return path


def regenerate(directory: Path, hosts: list[str] | None = None) -> CertificateInfo:
    """Replace the installed pair with a new self-signed one (e.g. after an uploaded one expired)."""
    path = server_pem(directory)
    _write_atomically(path, generate(hosts))
    info = describe(path)
    log.info("generated a new self-signed HTTPS certificate, SHA-256 %s", info.fingerprint_sha256)
    return info


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_upload(data: bytes, what: str) -> bytes:
    if not data.strip():
        raise CertificateError(f"The {what} file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CertificateError(f"The {what} file is larger than {MAX_UPLOAD_BYTES // 1024} KB.")
    return data


def validate_pair(key_data: bytes, cert_data: bytes, now: dt.datetime | None = None) -> bytes:
    """The combined PEM for an uploaded key and certificate chain; CertificateError says what is wrong."""
    key_data = _read_upload(key_data, "key")
    cert_data = _read_upload(cert_data, "certificate")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise CertificateError("The key is protected by a password; upload it without one.") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError("The key file is not a PEM private key.") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateError(f"The RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are needed.")
    elif not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("The key must be an RSA or an elliptic-curve (EC) key.")
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise CertificateError("The certificate file is not a PEM certificate.") from None
    leaf = chain[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise CertificateError("The key does not belong to the certificate (their public keys differ).")
    moment = now or dt.datetime.now(dt.UTC)
    if leaf.not_valid_after_utc < moment:
        raise CertificateError(f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}.")
    if leaf.not_valid_before_utc > moment:
        raise CertificateError(f"The certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d}.")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    combined = key_pem + b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)
    try:
        _context_from(combined)
    except ssl.SSLError as exc:
        raise CertificateError(f"The TLS library refuses this pair: {exc.reason or exc}.") from None
    return combined


def install_pair(directory: Path, key_data: bytes, cert_data: bytes) -> CertificateInfo:
    """Validate an uploaded pair, then replace the installed certificate with it in one rename."""
    return install(directory, validate_pair(key_data, cert_data))


def install(directory: Path, combined: bytes) -> CertificateInfo:
    """Install a pair ``validate_pair`` returned."""
    path = server_pem(directory)
    _write_atomically(path, combined)
    info = describe(path)
    log.info("installed an uploaded HTTPS certificate for %s, SHA-256 %s", info.subject, info.fingerprint_sha256)
    return info


def describe(path: Path) -> CertificateInfo:
    leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(name.value) for name in san)
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_valid_after=leaf.not_valid_after_utc,
        fingerprint_sha256=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        self_signed=leaf.issuer == leaf.subject,
        names=names,
    )


def new_server_context() -> ssl.SSLContext:
    """TLS 1.2 at least, whatever the system's OpenSSL would allow."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _context_from(combined: bytes) -> ssl.SSLContext:
    # load_cert_chain reads files only; a private temporary file serves the in-memory pair.
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        os.chmod(file.name, 0o600)
        file.write(combined)
        file.flush()
        context = new_server_context()
        context.load_cert_chain(file.name)
    return context


def server_context(path: Path) -> ssl.SSLContext:
    context = new_server_context()
    context.load_cert_chain(path)
    return context
