"""The broker password at rest, sealed with a key of its own (:mod:`portal.sealed`): a changed
secret key makes it unreadable (the page then asks for it again, ``decrypt`` returns "")."""

from __future__ import annotations

from portal.sealed import Seal

_SEAL = Seal(
    b"ksem integrations: MQTT broker password",
    "the stored MQTT password cannot be decrypted (secret key changed?); connecting without it",
)
encrypt = _SEAL.encrypt
decrypt = _SEAL.decrypt
