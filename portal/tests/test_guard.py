"""One login guard for every way in (ACC-1, issue 7 part 7): per client address and per account."""

from __future__ import annotations

import time
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


def test_one_account_is_locked_whatever_address_the_guesses_come_from(device_password: str) -> None:
    for number in range(20):
        _login(LOGIN, "guess", f"198.51.100.{number}")

    status, page = _login(LOGIN, device_password, "198.51.100.200")

    assert status == 200
    assert "Too many wrong passwords for this account. Try again in 15 minutes." in page
    other = get_user_model().objects.create_user("olga", password="Olga-Pass-1")
    assert other.pk
    status, _page = _login(LOGIN, "Olga-Pass-1", "198.51.100.200", username="olga")
    assert status == 302, "another account from a fresh address is not affected"


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


def test_a_wrong_current_password_on_the_password_page_counts_too(device_password: str) -> None:
    client = Client()
    client.post(LOGIN, {"password": device_password}, REMOTE_ADDR="192.0.2.40")
    for number in range(20):
        page = client.post(
            reverse("portal:password"),
            {"old_password": "guess", "new_password1": "Another-Pass1", "new_password2": "Another-Pass1"},
            REMOTE_ADDR=f"192.0.2.{50 + number % 2}",
        ).content.decode()
        assert "Your old password was entered incorrectly" in page
    page = client.post(
        reverse("portal:password"),
        {"old_password": device_password, "new_password1": "Another-Pass1", "new_password2": "Another-Pass1"},
        REMOTE_ADDR="192.0.2.52",
    ).content.decode()
    assert "Too many wrong passwords for this account" in page, "not even the right one is checked now"
    _status, page = _login(LOGIN, device_password, "192.0.2.53")
    assert "Too many wrong passwords for this account" in page


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
