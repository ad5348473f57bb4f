"""The device's own SHIP identity: an EC P-256 self-signed certificate, its SKI and the SHIP ID.

The certificate is made the way ship-go makes it (so Go peers and installers see what they expect):
ECDSA P-256, ECDSA-SHA256 signature, random 130-bit serial, valid for 10 years, BasicConstraints
CA:TRUE, KeyUsage digitalSignature, SubjectKeyIdentifier = SHA-1 over the uncompressed public point
(0x04 || X || Y). The SKI is what a grid operator registers, so the identity is created once, on first
start, in a directory the caller owns, and then only ever loaded: a new certificate would be a new
SKI and a new registration. The SHIP ID is stored beside it for the same reason (it must never change).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "ship-cert.pem"
KEY_FILE = "ship-key.pem"
SHIP_ID_FILE = "ship-id.txt"
VALIDITY = dt.timedelta(days=3650)
_SKI_RE = re.compile(r"^[0-9a-f]{40}$")


def normalize_ski(text: str) -> str:
    """Return the wire form of an SKI (40 lower-case hex digits); spaces, ``-`` and ``:`` are dropped.

    Raises ValueError naming the problem when what is left is not 40 hex digits.
    """
    if not isinstance(text, str):
        raise ValueError("SKI must be text")
    ski = re.sub(r"[\s:\-]", "", text).lower()
    if not _SKI_RE.match(ski):
        raise ValueError(f"SKI must be 40 hexadecimal digits (20 bytes), got {len(ski)} characters: {text[:60]!r}")
    return ski


def ski_of_public_key(key: ec.EllipticCurvePublicKey) -> bytes:
    """SHA-1 over the uncompressed EC point (RFC 5280 4.2.1.2 method 1), as ship-go computes it."""
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return hashlib.sha1(point, usedforsecurity=False).digest()


def ski_from_certificate(cert: x509.Certificate) -> str:
    """The SKI a certificate carries in its SubjectKeyIdentifier extension (must be 20 bytes)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound as exc:
        raise ValueError("certificate has no SubjectKeyIdentifier extension") from exc
    digest = ext.value.digest
    if len(digest) != 20:
        raise ValueError(f"certificate SubjectKeyIdentifier is {len(digest)} bytes, SHIP needs 20")
    return digest.hex()


def create_certificate(
    *, common_name: str, organization: str = "", organizational_unit: str = "", country: str = "DE"
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new self-signed SHIP certificate and its private key (ship-go ``cert.CreateCertificate``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = []
    if organizational_unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country[:2]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "SHIP"))
    name = x509.Name(attrs)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ski = ski_of_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(130) | 1)
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@dataclass(frozen=True)
class ShipIdentity:
    """Own certificate, key and SHIP ID. ``ski`` is the 40-hex wire form."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    ship_id: str

    @property
    def ski(self) -> str:
        return ski_from_certificate(self.certificate)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def qr_text(self, *, brand: str, model: str, device_type: str, serial: str = "", categories: str = "") -> str:
        """The SHIP QR code text (keys upper case, ``;`` removed from values), as ship-go writes it."""

        def clean(value: str) -> str:
            return value.replace(";", "")

        parts = [f"SKI:{self.ski}", f"ID:{clean(self.ship_id)}", f"BRAND:{clean(brand)}", f"TYPE:{clean(device_type)}"]
        parts.append(f"MODEL:{clean(model)}")
        if serial:
            parts.append(f"SERIAL:{clean(serial)}")
        if categories:
            parts.append(f"CAT:{clean(categories)}")
        return "SHIP;" + ";".join(parts) + ";ENDSHIP;"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def load_or_create_identity(
    directory: str | os.PathLike[str],
    *,
    ship_id: str,
    common_name: str,
    organization: str = "",
    organizational_unit: str = "",
    country: str = "DE",
) -> ShipIdentity:
    """Load the identity stored in ``directory``, or create it there on first start.

    ``ship_id`` and the name fields are used only when nothing is stored yet; afterwards the stored
    certificate, key and SHIP ID win, so the SKI and SHIP ID never change. The key file is mode 0600.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, id_path = folder / CERT_FILE, folder / KEY_FILE, folder / SHIP_ID_FILE
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} does not hold an EC private key")
        if ski_of_public_key(key.public_key()) != bytes.fromhex(ski_from_certificate(cert)):
            raise ValueError(f"{cert_path} and {key_path} do not belong together (SKI differs)")
        stored_id = id_path.read_text(encoding="utf-8").strip() if id_path.exists() else ""
        if not stored_id:
            stored_id = ship_id
            id_path.write_text(stored_id + "\n", encoding="utf-8")
        return ShipIdentity(cert, key, stored_id)
    if not ship_id.strip():
        raise ValueError("a SHIP ID is needed to create the identity")
    cert, key = create_certificate(
        common_name=common_name, organization=organization, organizational_unit=organizational_unit, country=country
    )
    identity = ShipIdentity(cert, key, ship_id.strip())
    _write_private(key_path, identity.private_key_pem)
    cert_path.write_bytes(identity.certificate_pem)
    id_path.write_text(identity.ship_id + "\n", encoding="utf-8")
    return identity


def ephemeral_identity(ship_id: str) -> ShipIdentity:
    """A throw-away identity (tests, benchmarks): never use it for a real device."""
    cert, key = create_certificate(common_name=ship_id)
    return ShipIdentity(cert, key, ship_id)
