"""One guard for every password and code check (ACC-1): a lock per client address, a growing
delay per account that does not lock the owner out (issue 14 part 5).

Per client address: after ``LOGIN_FAILURES_ALLOWED`` wrong passwords (or two-factor codes), or
attempts refused by the account's delay, further attempts from it are refused unchecked until
``LOGIN_LOCKOUT_S`` has passed since the one that reached the limit.

Per account there is no lock. Once an account has had ``LOGIN_ACCOUNT_FAILURES_FREE`` wrong
passwords from anywhere (counted while they keep coming, ``LOGIN_LOCKOUT_S`` after the last),
every further check of it needs a free slot: ``LOGIN_ACCOUNT_DELAY_FIRST_S`` after the next
failure, doubling with each up to ``LOGIN_ACCOUNT_DELAY_MAX_S``. There are two such slots: one for addresses that have failed
recently (the attacker's) and one for fresh addresses, so guessing from a few addresses cannot
keep the owner at a new address waiting longer than one delay. An address the account logged in
from before (``LOGIN_KNOWN_ADDRESS_DAYS``) passes the delay altogether; the owner at home is never
slowed. The counts live in Redis, shared by every web process; a right password clears its
address's count and remembers the address for the account.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.dispatch import Signal
from django.http import HttpRequest

import redisconn

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Sent when a client address reaches the limit and its lock-out begins (arguments ``client``,
# ``failures``, ``lockout_s``); the event log (events/, above this app) listens.
lockout_started = Signal()


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


def _digest(text: str) -> str:
    # Hashed: a user name or address typed or sent by anyone must not shape Redis key names.
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _failures_key(name: str) -> str:
    return redisconn.key("login-failures", name)


def _client_key(client: str) -> str:
    return _failures_key(f"client:{client}")


def _account_key(username: str) -> str:
    return _failures_key(f"account:{_digest(username)}")


def _slot_key(username: str, fresh: bool) -> str:
    return _failures_key(f"slot:{'fresh' if fresh else 'suspect'}:{_digest(username)}")


def _known_key(username: str, client: str) -> str:
    return _failures_key(f"known:{_digest(username)}:{_digest(client)}")


def account_delay_s(failures: int) -> float:
    """The wait between checks of an account after ``failures`` wrong passwords (0: none)."""
    free = int(settings.LOGIN_ACCOUNT_FAILURES_FREE)
    if failures < free:
        return 0.0
    first = float(settings.LOGIN_ACCOUNT_DELAY_FIRST_S)
    return min(first * 2.0 ** min(failures - free, 30), float(settings.LOGIN_ACCOUNT_DELAY_MAX_S))


def _client_lockout(store: redis.Redis, client: str) -> Lockout | None:
    key = _client_key(client)
    if int(store.get(key) or 0) < int(settings.LOGIN_FAILURES_ALLOWED):
        return None
    wait_ms = int(store.pttl(key))
    if wait_ms == -1:  # no expiry (should not happen): give it one so it cannot lock forever
        store.expire(key, int(settings.LOGIN_LOCKOUT_S))
        wait_ms = int(settings.LOGIN_LOCKOUT_S) * 1000
    return Lockout(wait_s=-(-wait_ms // 1000), per_account=False) if wait_ms > 0 else None


def locked_out(client: str | None, username: str | None) -> Lockout | None:
    """Whether this attempt must wait (None: check it now).

    An attempt that is let through while the account is delayed takes the slot (so parallel
    guesses get one check per delay); one that is refused by the delay counts against its address.
    """
    try:
        store = redisconn.sync_redis()
        if client:
            lockout = _client_lockout(store, client)
            if lockout is not None:
                return lockout
        if not username:
            return None
        delay_s = account_delay_s(int(store.get(_account_key(username)) or 0))
        if delay_s <= 0 or (client and store.exists(_known_key(username, client))):
            return None
        fresh = not client or not int(store.get(_client_key(client)) or 0)
        slot = _slot_key(username, fresh)
        if store.set(slot, b"1", nx=True, px=max(1, int(delay_s * 1000))):
            return None
        wait_ms = max(int(store.pttl(slot)), 1)
        if client:
            _count(store, client)
    except redis.RedisError:
        # Without the store the guard cannot count; logging in must keep working.
        log.warning("login guard unavailable: Redis does not answer")
        return None
    return Lockout(wait_s=-(-wait_ms // 1000), per_account=True)


def _count(store: redis.Redis, client: str) -> None:
    """One more failure for a client address; its lockout runs from the one that reaches the limit."""
    allowed = int(settings.LOGIN_FAILURES_ALLOWED)
    count = int(store.incr(_client_key(client)))
    if count == 1 or count >= allowed:
        store.pexpire(_client_key(client), int(float(settings.LOGIN_LOCKOUT_S) * 1000))
    if count == allowed:
        lockout_started.send_robust(
            sender=Lockout, client=client, failures=count, lockout_s=int(float(settings.LOGIN_LOCKOUT_S))
        )


def record_failure(client: str | None, username: str | None) -> None:
    """Count one wrong password or code for the address and the account."""
    try:
        store = redisconn.sync_redis()
        if client:
            _count(store, client)
        if username:
            key = _account_key(username)
            store.incr(key)
            store.pexpire(key, int(float(settings.LOGIN_LOCKOUT_S) * 1000))  # while they keep coming
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")
    log.info("wrong password or code for an account from %s", client or "unknown")


def clear_failures(client: str | None, username: str | None) -> None:
    """A right password: the address's count goes, and the address is known to the account from
    now on. The account's count stays: it measures guessing from elsewhere, not the owner."""
    try:
        store = redisconn.sync_redis()
        if client:
            store.delete(_client_key(client))
        if username:  # the owner's own check does not hold the fresh addresses' slot
            store.delete(_slot_key(username, fresh=True))
        if client and username:
            store.set(_known_key(username, client), b"1", ex=int(settings.LOGIN_KNOWN_ADDRESS_DAYS) * 86400)
    except redis.RedisError:
        log.warning("login guard unavailable: Redis does not answer")
