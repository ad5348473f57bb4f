"""The device's own SHIP identity: certificate as ship-go makes it, SKI, stable on disk."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smartgrid.ship.identity import (
    KEY_FILE,
    ephemeral_identity,
    load_or_create_identity,
    normalize_ski,
    ski_from_certificate,
)


def test_certificate_is_what_ship_go_makes() -> None:
    ident = ephemeral_identity("Test-Device-1")
    cert = ident.certificate
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert cert.issuer == cert.subject
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is True
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime <= dt.timedelta(days=3651)
    point = cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert len(point) == 65 and point[0] == 4
    assert ident.ski == hashlib.sha1(point).hexdigest()
    assert len(ident.ski) == 40 and ident.ski == ident.ski.lower()


def test_created_once_then_loaded_unchanged(tmp_path) -> None:
    first = load_or_create_identity(tmp_path, ship_id="KSEM-1", common_name="KSEM-1")
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    again = load_or_create_identity(tmp_path, ship_id="another-id", common_name="other")
    assert again.ski == first.ski
    assert again.ship_id == "KSEM-1"  # the SHIP ID never changes once stored


def test_mismatched_files_are_refused(tmp_path) -> None:
    load_or_create_identity(tmp_path / "a", ship_id="A", common_name="A")
    load_or_create_identity(tmp_path / "b", ship_id="B", common_name="B")
    (tmp_path / "a" / KEY_FILE).write_bytes((tmp_path / "b" / KEY_FILE).read_bytes())
    with pytest.raises(ValueError, match="do not belong together"):
        load_or_create_identity(tmp_path / "a", ship_id="A", common_name="A")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AB" * 20, "ab" * 20),
        ("ab cd " * 10, "abcd" * 10),
        ("-".join(["0f1e"] * 10), "0f1e" * 10),
        ("01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67", "0123456789abcdef0123456789abcdef01234567"),
    ],
)
def test_normalize_ski(text: str, expected: str) -> None:
    assert normalize_ski(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "g" * 40, "a" * 41, "a" * 39])
def test_normalize_ski_rejects_what_is_not_an_ski(text: str) -> None:
    with pytest.raises(ValueError, match="40 hexadecimal"):
        normalize_ski(text)


def test_certificate_without_20_byte_ski_is_refused() -> None:
    from smartgrid.tests.ship_helpers import certificate_with_ski

    assert ski_from_certificate(certificate_with_ski(bytes(20))[0]) == "00" * 20
    with pytest.raises(ValueError, match="no SubjectKeyIdentifier"):
        ski_from_certificate(certificate_with_ski(None)[0])
    with pytest.raises(ValueError, match="16 bytes"):
        ski_from_certificate(certificate_with_ski(bytes(16))[0])


def test_qr_text() -> None:
    ident = ephemeral_identity("KOSTAL;KSEM-1")
    text = ident.qr_text(brand="KOSTAL", model="KSEM", device_type="EnergyManagementSystem", serial="1", categories="2")
    assert text == (
        f"SHIP;SKI:{ident.ski};ID:KOSTALKSEM-1;BRAND:KOSTAL;TYPE:EnergyManagementSystem;MODEL:KSEM;SERIAL:1;CAT:2;ENDSHIP;"
    )
