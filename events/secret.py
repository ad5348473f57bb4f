"""The SMTP password at rest, sealed with a key of its own (:mod:`portal.sealed`): a changed secret
key makes it unreadable (``decrypt`` returns "")."""

from __future__ import annotations

from portal.sealed import Seal

_SEAL = Seal(
    b"ksem events: SMTP password",
    "the stored SMTP password cannot be decrypted (secret key changed?); sending without it",
)
encrypt = _SEAL.encrypt
decrypt = _SEAL.decrypt
