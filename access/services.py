"""Create, authorise, revoke and check access tokens (ACC-2): the rules, in one place.

A token reads ``ksem_<prefix>_<secret>``: 8 characters of public prefix to find the row and 43
characters (256 bits) of secret. Checking a token is one indexed SELECT and no write: the
last-used time is refreshed at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access.models import AccessToken

TOKEN_PATTERN = re.compile(r"^ksem_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
NAME_MAX_LENGTH = 64
MAX_VALIDITY_DAYS = 10 * 366
ROLES = tuple(AccessToken.Role.values)


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
    """Takes effect on the bearer's very next request: every request reads the row."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def check_token(presented: str) -> AccessToken:
    """The token (with its user) that ``presented`` proves, or TokenRejected naming why."""
    match = TOKEN_PATTERN.match(presented)
    if match is None:
        raise TokenRejected(INVALID)
    token = AccessToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(presented)):
        raise TokenRejected(INVALID)
    if token.revoked:
        raise TokenRejected(REVOKED)
    if token.expired():
        raise TokenRejected(EXPIRED)
    if not token.authorised:
        raise TokenRejected(NOT_AUTHORISED)
    if not token.user.is_active:
        raise TokenRejected(INVALID)
    _note_use(token)
    return token


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
