"""One login guard for every way in (ACC-1, issue 7 part 7, issue 14 part 5): a lock per client
address, a delay per account that slows guessing without locking the owner out."""

from __future__ import annotations

import re
import time
from typing import Any
from typing import Any as SettingsWrapper

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse

from portal import guard
from portal.services import ensure_device_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
LOCKED = "Too many wrong passwords from this device. Try again in 15 minutes."


@pytest.fixture
def device_password() -> str:
    password = ensure_device_user()
    assert password is not None
    return password


def _login(path: str, password: str, address: str, username: str = "installer", **extra: str) -> tuple[int, str]:
    client = Client()
    data = {"username": username, "password": password}
    if path == ADMIN_LOGIN:
        data["next"] = "/admin/"
    response = client.post(path, data, REMOTE_ADDR=address, **extra)  # type: ignore[arg-type]
    logged_in = client.get("/admin/" if path == ADMIN_LOGIN else reverse("plant:dashboard")).status_code == 200
    return (302 if logged_in else response.status_code), response.content.decode()


@pytest.mark.parametrize(("guessed_on", "then_on"), [(LOGIN, ADMIN_LOGIN), (ADMIN_LOGIN, LOGIN)])
def test_wrong_passwords_on_one_way_in_lock_the_other(device_password: str, guessed_on: str, then_on: str) -> None:
    for _ in range(10):
        status, _page = _login(guessed_on, "guess", "192.0.2.20")
        assert status == 200

    status, page = _login(then_on, device_password, "192.0.2.20")

    assert status == 200, "the right password does not get in while the client is locked out"
    assert LOCKED in page


def test_the_admin_login_says_how_long_to_wait(device_password: str) -> None:
    for _ in range(10):
        _login(ADMIN_LOGIN, "guess", "192.0.2.21")
    _status, page = _login(ADMIN_LOGIN, "guess", "192.0.2.21")
    assert LOCKED in page


ACCOUNT_SLOWED = "Too many wrong passwords for this account. Try again in"


@pytest.fixture
def slow_account(settings: SettingsWrapper) -> SettingsWrapper:
    """Account delays long enough that no slot reopens while a test runs on a busy machine."""
    settings.LOGIN_ACCOUNT_DELAY_FIRST_S = 120
    settings.LOGIN_ACCOUNT_DELAY_MAX_S = 240
    return settings


def _owner_gets_in(password: str, address: str, max_wait_s: float) -> tuple[bool, float]:
    """Log in as the owner would: on "try again in N seconds", wait that long and try once more."""
    started = time.monotonic()
    for _attempt in range(2):
        status, page = _login(LOGIN, password, address)
        if status == 302:
            return True, time.monotonic() - started
        match = re.search(r"Try again in (\d+) seconds?", page)
        if match is None or int(match.group(1)) > max_wait_s:
            return False, time.monotonic() - started
        time.sleep(int(match.group(1)))
    return False, time.monotonic() - started


def test_guesses_from_two_addresses_do_not_keep_the_owner_out(device_password: str, slow_account: Any) -> None:
    """Issue 14 part 5: 22 wrong passwords from two addresses used to lock the device account for
    everybody for 15 minutes, again and again."""
    for round_ in range(2):
        pages = [_login(LOGIN, f"guess-{n}", f"203.0.113.{1 + n % 2}")[1] for n in range(22)]
        assert all("Wrong device password" in page or ACCOUNT_SLOWED in page or LOCKED in page for page in pages)

        got_in, waited_s = _owner_gets_in(device_password, f"198.51.100.{10 + round_}", max_wait_s=30)

        assert got_in, f"round {round_}: the owner at a fresh address with the right password is kept out"
        assert waited_s < 60, f"round {round_}: the owner waited {waited_s:.0f} s"


def test_guessing_is_slowed_by_the_account_not_only_by_the_address(device_password: str, slow_account: Any) -> None:
    """Guesses spread over many addresses: after the free ones, one check per slot and delay."""
    checked = 0
    for number in range(30):
        page = _login(LOGIN, f"guess-{number}", f"198.51.100.{number}")[1]
        if "Wrong device password" in page:
            checked += 1
        else:
            assert ACCOUNT_SLOWED in page
            seconds = int(re.search(r"Try again in (\d+) seconds", page).group(1))  # type: ignore[union-attr]
            assert 0 < seconds <= 240
    # 10 free, then the fresh addresses' slot once (each address fails once, so it is fresh).
    assert checked == 11

    # An address that guessed waits for the suspects' slot: even the right password is not checked.
    _login(LOGIN, "guess", "198.51.100.0")
    status, page = _login(LOGIN, device_password, "198.51.100.0")
    assert status == 200
    assert ACCOUNT_SLOWED in page


def test_an_address_that_logged_in_before_is_not_slowed(device_password: str, slow_account: Any) -> None:
    assert _login(LOGIN, device_password, "192.0.2.77")[0] == 302
    for number in range(30):
        _login(LOGIN, f"guess-{number}", f"198.51.100.{number}")
    assert ACCOUNT_SLOWED in _login(LOGIN, device_password, "198.51.100.250")[1], "both slots are taken"

    assert _login(LOGIN, device_password, "192.0.2.77")[0] == 302


@pytest.mark.parametrize(
    ("failures", "delay_s"),
    [(0, 0), (9, 0), (10, 1), (11, 2), (12, 4), (15, 32), (16, 60), (40, 60), (10_000, 60)],
)
def test_the_account_delay_grows_and_is_bounded(settings: SettingsWrapper, failures: int, delay_s: float) -> None:
    settings.LOGIN_ACCOUNT_FAILURES_FREE, settings.LOGIN_ACCOUNT_DELAY_FIRST_S = 10, 1
    settings.LOGIN_ACCOUNT_DELAY_MAX_S = 60
    assert guard.account_delay_s(failures) == delay_s


def test_twenty_wrong_passwords_are_throttled_and_the_right_one_works_after_the_wait(
    device_password: str, settings: SettingsWrapper
) -> None:
    settings.LOGIN_LOCKOUT_S = 3
    pages = [_login(LOGIN, f"guess-{n}", "192.0.2.30")[1] for n in range(20)]

    assert all("Wrong device password" in page for page in pages[:10])
    assert all("Too many wrong passwords" in page for page in pages[10:]), "throttled, not checked"
    assert "Try again in 1 minute." in pages[-1]
    assert _login(LOGIN, device_password, "192.0.2.30")[0] == 200, "still locked right after"

    deadline = time.monotonic() + 30
    while guard.locked_out("192.0.2.30", "installer") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _login(LOGIN, device_password, "192.0.2.30")[0] == 302


def test_locked_out_minutes_round_up(device_password: str, settings: SettingsWrapper) -> None:
    settings.LOGIN_LOCKOUT_S = 14 * 60 - 30
    for _ in range(10):
        _login(LOGIN, "guess", "192.0.2.31")
    assert "Try again in 14 minutes." in _login(LOGIN, device_password, "192.0.2.31")[1]


def test_a_wrong_current_password_on_the_password_page_counts_too(device_password: str, slow_account: Any) -> None:
    client = Client()
    client.post(LOGIN, {"password": device_password}, REMOTE_ADDR="192.0.2.40")
    pages = [
        client.post(
            reverse("portal:password"),
            {"old_password": "guess", "new_password1": "Another-Pass1", "new_password2": "Another-Pass1"},
            REMOTE_ADDR=f"192.0.2.{50 + number % 2}",
        ).content.decode()
        for number in range(20)
    ]
    assert all("Your old password was entered incorrectly" in page for page in pages[:10])
    assert ACCOUNT_SLOWED in pages[-1], "counted for the account: the guessing addresses are slowed"
    page = client.post(
        reverse("portal:password"),
        {"old_password": device_password, "new_password1": "Another-Pass1", "new_password2": "Another-Pass1"},
        REMOTE_ADDR="192.0.2.51",
    ).content.decode()
    assert ACCOUNT_SLOWED in page or LOCKED in page, "not even the right one is checked from a guessing address"
    assert _login(LOGIN, device_password, "192.0.2.53")[0] == 302, "the owner elsewhere is not locked out"


# --- which address a request comes from ----------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        # No proxy configured: the header is a client's claim and is ignored.
        ([], "127.0.0.1", "203.0.113.9", "127.0.0.1"),
        ([], "192.0.2.5", "203.0.113.9, 10.0.0.1", "192.0.2.5"),
        # Only from a configured proxy, and then the right-most hop that is not a proxy.
        (["10.0.0.2"], "192.0.2.5", "203.0.113.9", "192.0.2.5"),
        (["10.0.0.2"], "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        (["10.0.0.2"], "10.0.0.2", "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (["10.0.0.0/8"], "10.0.0.2", "203.0.113.9, 10.9.9.9", "203.0.113.9"),
        (["10.0.0.0/8"], "10.0.0.2", "10.1.1.1, 10.9.9.9", "10.1.1.1"),
        (["10.0.0.2"], "10.0.0.2", "", "10.0.0.2"),
        (["10.0.0.2"], "10.0.0.2", "not-an-address", "10.0.0.2"),
        (["10.0.0.2"], "10.0.0.2", "evil, 203.0.113.9", "203.0.113.9"),
        (["::1"], "::1", "2001:db8::7", "2001:db8::7"),
        ([], "", "203.0.113.9", "unknown"),
    ],
)
def test_client_address(
    settings: SettingsWrapper, trusted: list[str], remote: str, forwarded: str, expected: str
) -> None:
    settings.KSEM_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert guard.client_address(request) == expected


def test_forwarded_addresses_from_an_untrusted_client_cannot_spread_guesses(device_password: str) -> None:
    for number in range(10):
        _login(LOGIN, "guess", "127.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")

    _status, page = _login(LOGIN, device_password, "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert LOCKED in page


def test_a_trusted_proxy_passes_on_each_clients_own_count(device_password: str, settings: SettingsWrapper) -> None:
    settings.KSEM_TRUSTED_PROXIES = ["10.0.0.2"]
    get_user_model().objects.create_user("olga", password="Olga-Pass-1")
    for _ in range(10):
        _login(LOGIN, "guess", "10.0.0.2", username="olga", HTTP_X_FORWARDED_FOR="203.0.113.1")

    _status, page = _login(LOGIN, device_password, "10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.1")
    other, _page = _login(LOGIN, device_password, "10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.2")

    assert LOCKED in page, "the guessing client behind the proxy is locked"
    assert other == 302, "another client behind the same proxy is not"


def test_a_bad_trusted_proxy_setting_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from ksem_site.settings import ip_networks, setting

    assert ip_networks("10.0.0.1, 192.168.0.0/16") == ["10.0.0.1/32", "192.168.0.0/16"]
    monkeypatch.setenv("KSEM_TRUSTED_PROXIES", "10.0.0.1, nonsense")
    with pytest.raises(ImproperlyConfigured, match="KSEM_TRUSTED_PROXIES"):
        setting("KSEM_TRUSTED_PROXIES", ip_networks, list[str]())
