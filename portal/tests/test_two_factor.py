"""Two-factor login with TOTP and backup codes (ACC-1): enrol, log in with a code, and nothing without it."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from plant.models import Plant
from portal import two_factor
from portal.services import DEVICE_USERNAME, ensure_device_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing", "no_device_brake")]


@pytest.fixture
def no_device_brake(settings: Any) -> None:
    """django-otp slows down a device after each wrong code (1 s, 2 s, ...); the flows here type on at once."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What an authenticator app shows (``steps_ahead``: the code of a later 30 s step, within tolerance)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead):06d}"


@pytest.fixture
def password() -> str:
    value = ensure_device_user()
    assert value is not None
    return value


def log_in(password: str, username: str = "") -> Client:
    client = Client()
    response = client.post(reverse("portal:login"), {"username": username, "password": password})
    assert response.status_code == 302
    return client


def enrol(client: Client) -> tuple[TOTPDevice, list[str], str]:
    page = client.get(reverse("portal:two_factor")).content.decode()
    device = TOTPDevice.objects.get(user__username=DEVICE_USERNAME, confirmed=False)
    response = client.post(reverse("portal:two_factor"), {"code": code_for(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    return device, codes, page


def test_enrolment_shows_a_qr_code_and_the_key_until_confirmed(password: str) -> None:
    client = log_in(password)
    page = client.get(reverse("portal:two_factor")).content.decode()
    device = TOTPDevice.objects.get(user__username=DEVICE_USERNAME)

    assert "<svg" in page and "<path" in page, "the QR code is inline SVG, made without the network"
    assert two_factor.secret_text(device) in page
    assert client.get(reverse("portal:two_factor")).content.decode().count(two_factor.secret_text(device)) == 1
    assert TOTPDevice.objects.filter(user__username=DEVICE_USERNAME).count() == 1, "a reload keeps the same key"
    assert not device.confirmed


def test_a_wrong_code_does_not_confirm(password: str) -> None:
    client = log_in(password)
    client.get(reverse("portal:two_factor"))
    device = TOTPDevice.objects.get(user__username=DEVICE_USERNAME)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("portal:two_factor"), {"code": wrong})

    assert response.status_code == 400
    assert "This code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert "A code has 6 digits" in client.post(reverse("portal:two_factor"), {"code": "12ab"}).content.decode()


def test_confirming_shows_ten_backup_codes_once_and_never_the_key_again(password: str) -> None:
    client = log_in(password)
    device, codes, _page = enrol(client)
    secret = two_factor.secret_text(device)

    assert len(codes) == 10 and len(set(codes)) == 10
    after = client.get(reverse("portal:two_factor")).content.decode()
    assert secret not in after and secret.replace(" ", "") not in after
    assert device.key not in after
    assert 'data-testid="totp-qr"' not in after
    assert not any(code in after for code in codes), "backup codes are shown only once"
    assert "Two-factor login is on" in after


def test_login_asks_for_the_code_after_the_password(password: str) -> None:
    device, _codes, _page = enrol(log_in(password))
    client = Client()

    response = client.post(reverse("portal:login"), {"password": password, "next": reverse("meter:smartmeter")})
    assert response["Location"].startswith(reverse("portal:verify"))
    for url in (reverse("plant:dashboard"), reverse("portal:profile"), "/admin/"):
        blocked = client.get(url)
        assert blocked.status_code == 302 and blocked["Location"].startswith(reverse("portal:verify")), url
    api = client.get("/api/plants/")
    assert api.status_code == 403 and "Two-factor" in api.json()["detail"]

    wrong = client.post(reverse("portal:verify"), {"code": "000000", "next": reverse("meter:smartmeter")})
    assert wrong.status_code == 400 and "This code is not right" in wrong.content.decode()

    right = client.post(reverse("portal:verify"), {"code": code_for(device, 1), "next": reverse("meter:smartmeter")})
    assert right["Location"] == reverse("meter:smartmeter")
    assert client.get(reverse("plant:dashboard")).status_code == 200
    assert client.get("/api/plants/").status_code == 200


def test_the_admin_login_also_needs_the_code(password: str) -> None:
    enrol(log_in(password))
    client = Client()
    client.post("/admin/login/", {"username": DEVICE_USERNAME, "password": password, "next": "/admin/"})
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:verify"))


def test_a_backup_code_works_once(password: str) -> None:
    _device, codes, _page = enrol(log_in(password))

    first = log_in(password)
    response = first.post(reverse("portal:verify"), {"code": codes[0].upper()}, follow=True)
    assert response.status_code == 200
    assert "You logged in with a backup code; 9 are left." in response.content.decode()

    second = log_in(password)
    again = second.post(reverse("portal:verify"), {"code": codes[0]})
    assert again.status_code == 400
    assert second.get(reverse("plant:dashboard")).status_code == 302


def test_wrong_codes_count_toward_the_lockout(password: str) -> None:
    enrol(log_in(password))
    client = log_in(password)
    for _ in range(10):
        client.post(reverse("portal:verify"), {"code": "000000"})
    page = client.post(reverse("portal:verify"), {"code": "000000"}).content.decode()
    assert "Too many wrong passwords from this device. Try again in 15 minutes." in page


def test_two_factor_is_turned_off_with_a_current_code_only(password: str) -> None:
    client = log_in(password)
    device, _codes, _page = enrol(client)

    refused = client.post(reverse("portal:two_factor_off"), {"code": "000000"})
    assert refused.status_code == 400
    assert two_factor.needs_code(get_user_model().objects.get(username=DEVICE_USERNAME))

    done = client.post(reverse("portal:two_factor_off"), {"code": code_for(device, 1)})
    assert done.status_code == 302
    assert not TOTPDevice.objects.exists()
    assert log_in(password).get(reverse("plant:dashboard")).status_code == 200, "the password alone logs in again"


def test_an_installer_turns_off_a_persons_lost_two_factor() -> None:
    olga = get_user_model().objects.create_user("olga", password="Olga-Pass-1")
    plant = Plant.objects.create(name="Home")
    from portal.models import Membership

    Membership.objects.create(user=olga, plant=plant, role="operator")
    TOTPDevice.objects.create(user=olga, name="phone", confirmed=True)
    root = Client()
    root.force_login(get_user_model().objects.create_superuser("root", password="Root-Pass-1"))

    root.post(
        reverse("portal:person_edit", args=[olga.pk]), {f"role_{plant.pk}": "operator", "turn_off_two_factor": "on"}
    )

    assert not two_factor.needs_code(olga)


def test_secrets_never_appear_in_pages_or_logs(password: str, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    client = log_in(password)
    device, codes, enrol_page = enrol(client)
    verified = log_in(password)
    verified.post(reverse("portal:verify"), {"code": codes[1]})
    pages = [
        verified.get(url).content.decode()
        for url in (
            reverse("portal:profile"),
            reverse("portal:two_factor"),
            reverse("portal:people"),
            reverse("plant:dashboard"),
        )
    ]
    secrets = [password, device.key, two_factor.secret_text(device).replace(" ", ""), *codes]

    for secret in secrets:
        assert all(secret not in page for page in pages), secret
        assert secret not in caplog.text, secret
    assert password not in enrol_page


# --- websockets ----------------------------------------------------------------------------------


def test_websocket_refusals() -> None:
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY

    from portal.sockets import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, refusal

    plant = Plant.objects.create(name="Home")
    root = get_user_model().objects.create_superuser("root", password="Root-Pass-1")
    nobody = get_user_model().objects.create_user("nora", password="Nora-Pass-1")
    session = SessionStore()

    assert refusal({"user": nobody, "session": session}, plant.pk) == CLOSE_FORBIDDEN
    assert refusal({"user": root, "session": session}, plant.pk) is None
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    assert refusal({"user": root, "session": session}, plant.pk) == CLOSE_UNAUTHORIZED, "code not entered"
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    assert refusal({"user": root, "session": session}, plant.pk) is None
    other = TOTPDevice.objects.create(user=nobody, name="phone", confirmed=True)
    session[DEVICE_ID_SESSION_KEY] = other.persistent_id
    assert refusal({"user": root, "session": session}, plant.pk) == CLOSE_UNAUTHORIZED, "someone else's device"


def test_after_a_wrong_code_the_device_brakes_briefly(password: str, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    settings.OTP_STATIC_THROTTLE_FACTOR = 60
    device, _codes, _page = enrol(log_in(password))
    client = log_in(password)
    client.post(reverse("portal:verify"), {"code": "000000"})

    response = client.post(reverse("portal:verify"), {"code": code_for(device, 1)})

    assert response.status_code == 400
    assert "Too many wrong codes in a row: wait" in response.content.decode()
