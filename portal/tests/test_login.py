"""Login with the device password (ACC-1): what a person at the login page sees."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.services import ensure_device_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def device_password() -> str:
    password = ensure_device_user()
    assert password is not None
    return password


def test_right_device_password_lands_on_the_dashboard(client: Client, device_password: str) -> None:
    response = client.post(reverse("portal:login"), {"password": device_password}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("plant:dashboard")
    assert response.context["user"].is_authenticated
    assert "<h1>Dashboard" in response.content.decode()


def test_wrong_device_password_shows_an_error_and_stays_logged_out(client: Client, device_password: str) -> None:
    response = client.post(reverse("portal:login"), {"password": device_password + "x"})

    assert response.status_code == 200
    assert "Wrong device password" in response.content.decode()
    assert not response.context["user"].is_authenticated
    assert client.get(reverse("plant:dashboard")).status_code == 302


def test_empty_password_is_refused_with_a_field_error(client: Client, device_password: str) -> None:
    response = client.post(reverse("portal:login"), {"password": ""})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not response.context["user"].is_authenticated


@pytest.mark.parametrize("url_name", ["plant:dashboard", "meter:smartmeter"])
def test_pages_send_an_anonymous_visitor_to_the_login(client: Client, url_name: str) -> None:
    url = reverse(url_name)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={url}"


def test_login_returns_to_the_page_asked_for(client: Client, device_password: str) -> None:
    response = client.post(reverse("portal:login"), {"password": device_password, "next": reverse("meter:smartmeter")})

    assert response["Location"] == reverse("meter:smartmeter")


def test_login_never_redirects_to_another_site(client: Client, device_password: str) -> None:
    response = client.post(reverse("portal:login"), {"password": device_password, "next": "https://evil.example/"})

    assert response["Location"] == reverse("plant:dashboard")


def test_login_page_tells_where_the_password_is_found(client: Client) -> None:
    page = client.get(reverse("portal:login")).content.decode()

    assert "device password" in page
    assert "printed when the device started for the first time" in page
    assert "python manage.py device_password --reset" in page


def test_login_page_in_german(client: Client) -> None:
    client.post(reverse("set_language"), {"language": "de", "next": reverse("portal:login")})

    page = client.get(reverse("portal:login")).content.decode()

    assert '<html lang="de">' in page
    assert "Gerätepasswort" in page
    assert "Anmelden" in page


def test_logout_needs_a_post_and_ends_the_session(client: Client, device_password: str) -> None:
    client.post(reverse("portal:login"), {"password": device_password})

    assert client.get(reverse("portal:logout")).status_code == 405
    assert client.get(reverse("plant:dashboard")).status_code == 200

    response = client.post(reverse("portal:logout"))

    assert response["Location"] == reverse("portal:login")
    assert client.get(reverse("plant:dashboard")).status_code == 302


def _attempt(client: Client, password: str, address: str) -> str:
    return client.post(reverse("portal:login"), {"password": password}, REMOTE_ADDR=address).content.decode()


def test_after_ten_wrong_passwords_the_client_must_wait(client: Client, device_password: str) -> None:
    for _ in range(10):
        assert "Wrong device password" in _attempt(client, "guess", "192.0.2.7")

    page = _attempt(client, device_password, "192.0.2.7")
    assert "Too many wrong passwords from this device. Try again in 15 minutes." in page
    assert client.get(reverse("plant:dashboard")).status_code == 302, "not even the right password gets in now"

    other = Client()
    response = other.post(reverse("portal:login"), {"password": device_password}, REMOTE_ADDR="192.0.2.8")
    assert response.status_code == 302, "another client is not locked out"


def test_a_successful_login_forgets_earlier_mistakes(client: Client, device_password: str) -> None:
    for _ in range(9):
        _attempt(client, "guess", "192.0.2.9")
    assert (
        client.post(reverse("portal:login"), {"password": device_password}, REMOTE_ADDR="192.0.2.9").status_code == 302
    )
    client.post(reverse("portal:logout"))
    for _ in range(9):
        assert "Wrong device password" in _attempt(client, "guess", "192.0.2.9")
