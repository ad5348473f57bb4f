"""The device account: created on first start with a random password, reset at the machine (ACC-1)."""

from __future__ import annotations

import secrets
import string

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

DEVICE_USERNAME = "installer"
_ALPHABET = string.ascii_letters + string.digits
_AMBIGUOUS = set("0O1lI")


def generate_password(length: int = 12) -> str:
    """Random, readable off a type plate: no 0/O/1/l/I, always upper, lower and a digit."""
    alphabet = "".join(c for c in _ALPHABET if c not in _AMBIGUOUS)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.isupper() for c in password)
            and any(c.islower() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


def device_user() -> AbstractBaseUser | None:
    return get_user_model().objects.filter(username=DEVICE_USERNAME).first()


def ensure_device_user() -> str | None:
    """Create the device account on first start. Returns the new password, or None if it existed."""
    if device_user() is not None:
        return None
    password = generate_password()
    get_user_model().objects.create_superuser(username=DEVICE_USERNAME, email="", password=password)
    return password


def reset_device_password() -> str:
    user = device_user()
    password = generate_password()
    if user is None:
        get_user_model().objects.create_superuser(username=DEVICE_USERNAME, email="", password=password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return password
