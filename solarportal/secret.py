"""The per-plant portal credentials at rest, sealed with a key of their own (:mod:`portal.sealed`):
a changed secret key makes them unreadable (``decrypt`` returns "", the page asks for them again)."""

from __future__ import annotations

from portal.sealed import Seal

_SEAL = Seal(
    b"ksem solarportal: per-plant portal credential",
    "a stored solar-portal credential cannot be decrypted (secret key changed?)",
)
encrypt = _SEAL.encrypt
decrypt = _SEAL.decrypt
