"""The SMTP password at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF from
the installation's secret key (``SECRET_KEY``). A database copied without the secret key does not
reveal the password; a changed secret key makes it unreadable (``decrypt`` returns "")."""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

log = logging.getLogger(__name__)
_INFO = b"ksem events: SMTP password"


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(password: str) -> str:
    return "" if not password else _fernet().encrypt(password.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        log.warning("the stored SMTP password cannot be decrypted (secret key changed?); sending without it")
        return ""
