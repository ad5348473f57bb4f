"""Settings secrets at rest (the MQTT broker password, the SMTP password, the solar-portal
credential): Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF from the installation's
secret key (``SECRET_KEY``), one key per purpose (``info``).

A database copied without the secret key does not reveal them; a changed secret key makes them
unreadable: ``open`` then returns "" and logs why once per call, the page asks for the value again.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seal:
    """Seals and opens one kind of secret: ``info`` sets its key apart, ``unreadable`` is logged
    when a stored value cannot be opened."""

    info: bytes
    unreadable: str

    def _fernet(self) -> Fernet:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self.info).derive(settings.SECRET_KEY.encode())
        return Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, value: str) -> str:
        return "" if not value else self._fernet().encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        if not token:
            return ""
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            log.warning("%s", self.unreadable)
            return ""
