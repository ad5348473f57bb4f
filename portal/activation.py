"""Activation codes (ACT-1): ten digits that unlock an option for one device serial number.

A code is the keyed hash HMAC-SHA256(vendor key, "ksem-activation-v1|<serial>|<option>") read as
a number modulo 10^10, written with ten digits. Only the vendor holds the key that issues codes
(``manage.py issue_activation_code``); the device checks a code with the same key, given to it in
the environment (``KSEM_ACTIVATION_KEY``), never stored in the repository or the database.

Guessing: for a given serial there is one right code per option, so a random ten-digit code
unlocks something with probability (number of options) / 10^10, and every wrong try counts
against the login guard (:mod:`portal.guard`). A code for another serial is another number.

This module knows no plant: it checks text against text. Which plant has which option is the
plant app's business (``plant.options``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass

from django.conf import settings

WALLBOX = "wallbox"
BATTERY_MANAGEMENT = "battery_management"
# Every option a code can unlock, in the order the activation page lists them.
OPTIONS = (WALLBOX, BATTERY_MANAGEMENT)
DIGITS = 10
KEY_ENV = "KSEM_ACTIVATION_KEY"
MIN_KEY_BYTES = 16
_DOMAIN = b"ksem-activation-v1"
_SERIAL = re.compile(r"^[A-Z0-9-]{4,32}$")


class ActivationError(Exception):
    """A code was refused; the message says why (for people), ``reason`` for programs."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CheckedCode:
    option: str
    code: str


def new_serial() -> str:
    """A new device serial number: ``KSEM-`` and ten random digits."""
    return f"KSEM-{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def normalise_serial(serial: str) -> str:
    value = serial.strip().upper()
    if not _SERIAL.match(value):
        raise ValueError(f"{serial!r} is not a serial number (4-32 letters, digits and '-')")
    return value


def parse_key(raw: str) -> bytes:
    """The vendor key from its text form: hex (32+ digits) or any text of 16+ bytes."""
    text = raw.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the activation key must have at least {MIN_KEY_BYTES} bytes")
    return key


def vendor_key() -> bytes | None:
    """The key from ``KSEM_ACTIVATION_KEY`` (settings first, then the environment); None if unset."""
    raw = getattr(settings, KEY_ENV, "") or os.environ.get(KEY_ENV, "")
    return parse_key(raw) if raw else None


def code_for(key: bytes, serial: str, option: str) -> str:
    """The activation code of ``option`` for ``serial`` (what the vendor issues)."""
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}")
    message = b"|".join((_DOMAIN, normalise_serial(serial).encode(), option.encode()))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**DIGITS:0{DIGITS}d}"


def normalise_code(text: str) -> str:
    """The ten digits of what someone typed (spaces and dashes allowed); ActivationError otherwise."""
    digits = re.sub(r"[\s-]", "", text or "")
    if not digits:
        raise ActivationError("Enter the activation code.", "empty")
    if not re.fullmatch(rf"[0-9]{{{DIGITS}}}", digits):
        raise ActivationError(f"An activation code has exactly {DIGITS} digits.", "format")
    return digits


def check(key: bytes | None, serial: str, text: str) -> CheckedCode:
    """Which option ``text`` unlocks on ``serial``; ActivationError (with the reason) if none."""
    code = normalise_code(text)
    if key is None:
        raise ActivationError(
            "This device has no activation key configured (KSEM_ACTIVATION_KEY); codes cannot be checked.", "no_key"
        )
    for option in OPTIONS:
        if hmac.compare_digest(code_for(key, serial, option), code):
            return CheckedCode(option=option, code=code)
    raise ActivationError(
        f"This code is not valid for serial number {normalise_serial(serial)}. Check the digits and the serial "
        "number the code was issued for.",
        "invalid",
    )
