"""Password change (ACC-1): the current password and a new one of 8+ characters mixing upper and lower case."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from portal.passwords import MixedCaseValidator
from portal.services import DEVICE_USERNAME, ensure_device_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def logged_in() -> tuple[Client, str]:
    password = ensure_device_user()
    assert password is not None
    client = Client()
    assert client.post(reverse("portal:login"), {"password": password}).status_code == 302
    return client, password


def _change(client: Client, old: str, new: str, again: str | None = None) -> str:
    data = {"old_password": old, "new_password1": new, "new_password2": new if again is None else again}
    response = client.post(reverse("portal:password"), data)
    return response.content.decode() if response.status_code != 302 else "saved"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("Short1a", "This password is too short. It must contain at least 8 characters."),
        ("alllowercase1", "The password must mix upper-case and lower-case letters."),
        ("ALLUPPERCASE1", "The password must mix upper-case and lower-case letters."),
        ("12345678", "The password must mix upper-case and lower-case letters."),
    ],
)
def test_a_weak_new_password_is_refused_with_the_rule_it_breaks(
    logged_in: tuple[Client, str], new: str, message: str
) -> None:
    client, password = logged_in
    page = _change(client, password, new)
    assert message in page
    assert authenticate(username=DEVICE_USERNAME, password=password) is not None, "nothing changed"


def test_the_current_password_must_be_right(logged_in: tuple[Client, str]) -> None:
    client, password = logged_in
    assert "Your old password was entered incorrectly" in _change(client, password + "x", "Good-Enough-1")
    assert authenticate(username=DEVICE_USERNAME, password=password) is not None


def test_the_new_password_must_be_typed_twice_the_same(logged_in: tuple[Client, str]) -> None:
    client, password = logged_in
    assert "The two password fields didn’t match." in _change(client, password, "Good-Enough-1", "Good-Enough-2")


def test_a_good_new_password_replaces_the_old_one_and_the_session_stays(logged_in: tuple[Client, str]) -> None:
    client, password = logged_in
    assert _change(client, password, "abcdEFGH") == "saved"
    assert authenticate(username=DEVICE_USERNAME, password="abcdEFGH") is not None
    assert authenticate(username=DEVICE_USERNAME, password=password) is None
    assert client.get(reverse("plant:dashboard")).status_code == 200, "still logged in"
    assert "abcdEFGH" not in get_user_model().objects.get(username=DEVICE_USERNAME).password


def test_the_password_page_needs_a_login_and_csrf(logged_in: tuple[Client, str]) -> None:
    assert Client().get(reverse("portal:password")).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.get(username=DEVICE_USERNAME))
    response = strict.post(
        reverse("portal:password"), {"old_password": "x", "new_password1": "abcdEFGH", "new_password2": "abcdEFGH"}
    )
    assert response.status_code == 403


@given(st.text(min_size=1, max_size=30))
def test_mixed_case_rule_matches_its_definition(password: str) -> None:
    mixed = any(c.isupper() for c in password) and any(c.islower() for c in password)
    try:
        MixedCaseValidator().validate(password)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == mixed
