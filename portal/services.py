"""The device password: the one login of a KSEM-style device (ACC-1)."""

from __future__ import annotations

import logging
import secrets
import string

import redis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from plant import live

log = logging.getLogger(__name__)

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


# Brute-force guard: after this many wrong passwords from one client address, that address
# may not try again until the window has passed. Other clients are not affected.
LOGIN_FAILURES_ALLOWED = 10
LOGIN_LOCKOUT_S = 15 * 60


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def login_locked_for_s(client: str) -> int:
    """Seconds this client must wait before trying a password again (0: it may try now)."""
    try:
        store = live.sync_redis()
        key = live.login_failures_key(client)
        if int(store.get(key) or 0) < LOGIN_FAILURES_ALLOWED:
            return 0
        return max(int(store.ttl(key)), 1)
    except redis.RedisError:
        # Without the store the guard cannot count; logging in must keep working.
        log.warning("login guard unavailable: Redis does not answer")
        return 0


def record_login_failure(client: str) -> None:
    try:
        key = live.login_failures_key(client)
        store = live.sync_redis()
        if store.incr(key) == 1:
            store.expire(key, LOGIN_LOCKOUT_S)
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")


def clear_login_failures(client: str) -> None:
    try:
        live.sync_redis().delete(live.login_failures_key(client))
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")
