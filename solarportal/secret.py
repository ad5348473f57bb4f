"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the
installation's secret key. A database copied without the secret key does not reveal them; a
changed secret key makes them unreadable (``decrypt`` returns "", the page asks for them again)."""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

log = logging.getLogger(__name__)
_INFO = b"ksem solarportal: per-plant portal credential"


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str) -> str:
    return "" if not value else _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        log.warning("a stored solar-portal credential cannot be decrypted (secret key changed?)")
        return ""
