"""Create, authorise, revoke and check access tokens (ACC-2): the rules, in one place.

A token reads ``ksem_<prefix>_<secret>``: 8 characters of public prefix to find the row and 43
characters (256 bits) of secret. Checking a token reads no database row on most requests and
writes none: each process keeps the rows it has checked (:func:`check_token`), and the last-used
time is refreshed at most once a minute per token.

**The token cache.** A cached row is used only while the *token generation* in Redis is the one
read before the row was loaded; every save or delete of a token or a user (authorise, revoke,
expiry changed in the admin, a person removed or deactivated) increments it, so the very next
request in any process reads the row again. Without Redis every check reads the row. A row is
also read again after ``TOKEN_CACHE_MAX_AGE_S`` however the generation looks, which bounds what a
change made while Redis was unreachable can miss.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

import redisconn
from access.models import AccessToken

TOKEN_PATTERN = re.compile(r"^ksem_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
NAME_MAX_LENGTH = 64
MAX_VALIDITY_DAYS = 10 * 366
ROLES = tuple(AccessToken.Role.values)
TOKEN_CACHE_MAX_AGE_S = 10.0

logger = logging.getLogger(__name__)


class TokenError(ValueError):
    """A request to create or change a token that cannot be done; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class TokenRejected(Exception):
    """A presented token that does not let its bearer in; ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


INVALID = "invalid token"
EXPIRED = "token expired"
REVOKED = "token revoked"
NOT_AUTHORISED = "token not yet authorised"


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: AccessToken
    secret: str  # shown once, never stored


def clean_name(raw: object) -> str:
    name = " ".join(str(raw or "").split())
    if not name:
        raise TokenError("name", "Give the token a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise TokenError("name", f"A name has at most {NAME_MAX_LENGTH} characters.")
    if not name.isprintable():
        raise TokenError("name", "A name may not contain control characters.")
    return name


def clean_role(raw: object) -> str:
    if raw not in ROLES:
        raise TokenError("role", f"The role must be one of {', '.join(ROLES)}.")
    return str(raw)


def clean_expiry(value: dt.date, today: dt.date | None = None) -> dt.date:
    today = today or timezone.now().date()
    if value < today:
        raise TokenError("expires_on", f"The expiry date {value.isoformat()} has already passed.")
    if value > today + dt.timedelta(days=MAX_VALIDITY_DAYS):
        raise TokenError("expires_on", "A token may be valid for at most 10 years.")
    return value


def create_token(*, name: object, role: object, expires_on: dt.date, user: Any, authorise: bool = False) -> NewToken:
    """A new token; its secret is returned here and nowhere else. Refused with TokenError, nothing saved."""
    clean = clean_name(name)
    clean_role(role)
    clean_expiry(expires_on)
    if AccessToken.objects.filter(name=clean).exists():
        raise TokenError("name", f"A token named {clean!r} already exists.")
    now = timezone.now()
    for _attempt in range(5):
        prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(8))
        secret = f"ksem_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = AccessToken.objects.create(
                    name=clean,
                    role=str(role),
                    prefix=prefix,
                    secret_hash=hash_secret(secret),
                    expires_on=expires_on,
                    user=user,
                    authorised=authorise,
                    authorised_at=now if authorise else None,
                )
            return NewToken(token=token, secret=secret)
        except IntegrityError:
            if AccessToken.objects.filter(name=clean).exists():
                raise TokenError("name", f"A token named {clean!r} already exists.") from None
    raise RuntimeError("could not find a free token prefix")  # 36^8 prefixes: not in this universe


def authorise_token(token: AccessToken) -> AccessToken:
    if token.revoked:
        raise TokenError("token", f"The token {token.name!r} is revoked; create a new one.")
    if not token.authorised:
        token.authorised = True
        token.authorised_at = timezone.now()
        token.save(update_fields=["authorised", "authorised_at"])
    return token


def revoke_token(token: AccessToken) -> AccessToken:
    """Takes effect on the bearer's very next request, in every process (see :func:`tokens_changed`)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@dataclass
class _CachedRow:
    generation: bytes | None  # the token generation read before the row was loaded
    token: AccessToken  # with its user; never handed out, only copies of it
    loaded_at: float


_rows: dict[str, _CachedRow] = {}


def generation_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:access:token-generation"


def _redis() -> redis.Redis:
    return redisconn.sync_redis()


def _bump_generation() -> None:
    try:
        _redis().incr(generation_key())
    except redis.RedisError as exc:
        logger.warning("could not announce a token change in Redis (%s); other processes see it within %d s",
                       exc, TOKEN_CACHE_MAX_AGE_S)  # fmt: skip


def tokens_changed() -> None:
    """A token or user row changed: every process reads token rows again from its next check on.

    Announced at once and again when the transaction commits, so no process can cache the row
    as it was before the commit under the new generation.
    """
    _rows.clear()
    _bump_generation()
    transaction.on_commit(_bump_generation)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _usable(entry: _CachedRow | None, generation: bytes | None) -> bool:
    return (
        entry is not None
        and entry.generation == generation
        and time.monotonic() - entry.loaded_at < TOKEN_CACHE_MAX_AGE_S
    )


def _refuse_unless_valid(token: AccessToken, presented: str) -> None:
    if not hmac.compare_digest(token.secret_hash, hash_secret(presented)):
        raise TokenRejected(INVALID)
    if token.revoked:
        raise TokenRejected(REVOKED)
    if token.expired():
        raise TokenRejected(EXPIRED)
    if not token.authorised:
        raise TokenRejected(NOT_AUTHORISED)
    if not token.user.is_active:
        raise TokenRejected(INVALID)


def check_token(presented: str) -> AccessToken:
    """The token (with its user) that ``presented`` proves, or TokenRejected naming why.

    The row comes from this process's cache while the token generation in Redis is unchanged
    (one Redis GET), else from the database. The caller gets its own copy of token and user.
    """
    match = TOKEN_PATTERN.match(presented)
    if match is None:
        raise TokenRejected(INVALID)
    prefix = match.group(1)
    try:
        generation = _as_bytes(_redis().get(generation_key()))
        cacheable = True
    except redis.RedisError:
        generation, cacheable = None, False
    entry = _rows.get(prefix)
    if not (cacheable and _usable(entry, generation)):
        _rows.pop(prefix, None)
        row = AccessToken.objects.select_related("user").filter(prefix=prefix).first()
        if row is None:
            raise TokenRejected(INVALID)
        entry = _CachedRow(generation, row, time.monotonic())
        if cacheable:
            _rows[prefix] = entry
    assert entry is not None
    _refuse_unless_valid(entry.token, presented)
    _note_use(entry.token)
    token = copy.copy(entry.token)
    token.user = copy.copy(entry.token.user)
    return token


def cached_token(presented: str, generation: bytes | str | None) -> AccessToken | None:
    """The token ``presented`` proves, from this process's cache alone, or None: not cached under
    ``generation`` (the value the caller just read from Redis), or not valid. None means "ask
    :func:`check_token`", which answers every case. No I/O: safe in an event loop. The returned
    row is shared: read it, never change it; when :func:`last_use_due`, have check_token note it.
    """
    match = TOKEN_PATTERN.match(presented)
    if match is None:
        return None
    entry = _rows.get(match.group(1))
    if entry is None or not _usable(entry, _as_bytes(generation)):
        return None
    try:
        _refuse_unless_valid(entry.token, presented)
    except TokenRejected:
        return None
    return entry.token


def last_use_due(token: AccessToken) -> bool:
    """Whether the token's last use is more than a minute old (check_token would write it)."""
    return token.last_used_at is None or timezone.now() - token.last_used_at >= LAST_USED_RESOLUTION


def _note_use(token: AccessToken) -> None:
    """Refresh last-used at most once a minute, so checking a token is not a write per request."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    AccessToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def bearer_from_header(header: str) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header; None for other schemes or none."""
    scheme, _sep, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def act_as_verified(user: Any) -> Any:
    """A token is a credential of its own: its bearer needs no second factor (django-otp's flag)."""
    user.otp_device = None
    user.is_verified = lambda: True
    return user
