"""One guard for every password and code check (ACC-1): counted per client address and per account.

After ``LOGIN_FAILURES_ALLOWED`` wrong passwords (or two-factor codes) from one client address,
or ``LOGIN_ACCOUNT_FAILURES_ALLOWED`` for one account from anywhere, further attempts are
refused unchecked until ``LOGIN_LOCKOUT_S`` has passed since the failure that reached the limit.
The account's limit is the higher one, so a single client is stopped before it could lock the
account for everybody else; guesses spread over many addresses still stop at the account's.
A right password clears both counters. The counts live in Redis, shared by every web process.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest

from plant import live

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _trusted_networks(configured: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _parse_ip(raw: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def client_address(request: HttpRequest | None) -> str:
    """The address of the client that sent ``request``.

    ``REMOTE_ADDR`` unless it is one of ``KSEM_TRUSTED_PROXIES``: then ``X-Forwarded-For`` is
    read from the right (each proxy appends the peer it saw) and the first hop that is not a
    trusted proxy is the client. A hop that is not an address ends the walk, so a client can
    never name an address of its choosing.
    """
    if request is None:
        return "unknown"
    remote = _parse_ip(str(request.META.get("REMOTE_ADDR") or ""))
    if remote is None:
        return "unknown"
    trusted = _trusted_networks(tuple(settings.KSEM_TRUSTED_PROXIES))

    def is_trusted(address: IPAddress) -> bool:
        return any(address in network for network in trusted)

    client = remote
    if is_trusted(remote):
        hops = str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",")
        for hop in reversed(hops):
            address = _parse_ip(hop)
            if address is None:
                break
            client = address
            if not is_trusted(address):
                break
    return str(client)


@dataclass(frozen=True)
class Lockout:
    wait_s: int
    per_account: bool

    @property
    def minutes(self) -> int:
        return max(1, -(-self.wait_s // 60))


def _client_key(client: str) -> str:
    return live.login_failures_key(f"client:{client}")


def _account_key(username: str) -> str:
    # Hashed: a user name typed by anyone must not shape Redis key names.
    digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:32]
    return live.login_failures_key(f"account:{digest}")


def _keys(client: str | None, username: str | None) -> list[tuple[str, bool, int]]:
    """(Redis key, per account?, failures allowed) for each counter this attempt touches."""
    keys: list[tuple[str, bool, int]] = []
    if client:
        keys.append((_client_key(client), False, int(settings.LOGIN_FAILURES_ALLOWED)))
    if username:
        keys.append((_account_key(username), True, int(settings.LOGIN_ACCOUNT_FAILURES_ALLOWED)))
    return keys


def locked_out(client: str | None, username: str | None) -> Lockout | None:
    """The longer of the client's and the account's lockouts, or None if they may try now."""
    longest: Lockout | None = None
    try:
        store = live.sync_redis()
        for key, per_account, allowed in _keys(client, username):
            if int(store.get(key) or 0) < allowed:
                continue
            wait_ms = int(store.pttl(key))
            if wait_ms == -1:  # no expiry (should not happen): give it one so it cannot lock forever
                store.expire(key, int(settings.LOGIN_LOCKOUT_S))
                wait_ms = int(settings.LOGIN_LOCKOUT_S) * 1000
            if wait_ms <= 0:
                continue
            lockout = Lockout(wait_s=-(-wait_ms // 1000), per_account=per_account)
            if longest is None or lockout.wait_s > longest.wait_s:
                longest = lockout
    except redis.RedisError:
        # Without the store the guard cannot count; logging in must keep working.
        log.warning("login guard unavailable: Redis does not answer")
        return None
    return longest


def record_failure(client: str | None, username: str | None) -> None:
    """Count one wrong password or code; the lockout runs from the failure that reaches the limit."""
    window_ms = int(float(settings.LOGIN_LOCKOUT_S) * 1000)
    try:
        store = live.sync_redis()
        for key, _per_account, allowed in _keys(client, username):
            count = int(store.incr(key))
            if count == 1 or count >= allowed:
                store.pexpire(key, window_ms)
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")
    log.info("wrong password or code for an account from %s", client or "unknown")


def clear_failures(client: str | None, username: str | None) -> None:
    try:
        keys = [key for key, _per_account, _allowed in _keys(client, username)]
        if keys:
            live.sync_redis().delete(*keys)
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")
