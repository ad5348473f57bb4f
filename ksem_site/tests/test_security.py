"""Security headers and query parameters as a hostile client meets them (ACC-5, issue 7 part 7)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from hypothesis import given
from hypothesis import strategies as st

from pages.params import MAX_ID, BadQueryParameter, choice_param, id_param, int_param, parse_int
from plant.models import Plant

pytestmark = pytest.mark.django_db

PAGES = ["/", "/plant/overview/", "/meter/", "/inverters/", "/inverters/add/", "/modbus/", "/tariffs/",
         "/tariffs/settings/"]  # fmt: skip
BAD_NUMBERS = ["²", "٣", "-1", "0", "99999999999999999999", "abc", "1.5", " ", "1e3", "0x10", "9" * 5000]


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


@pytest.fixture
def installer() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("installer", password="Secret-Pass-1"))
    return client


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_a_malformed_plant_on_the_login_page_answers_400_naming_it(client: Client, plant: Plant, value: str) -> None:
    response = client.get("/login/", {"plant": value})

    assert response.status_code == 400
    text = response.content.decode()
    assert "plant" in text and "not valid" in text


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("value", ["²", "-1", "99999999999999999999", "abc"])
def test_a_malformed_plant_on_any_page_answers_400(installer: Client, plant: Plant, page: str, value: str) -> None:
    response = installer.get(page, {"plant": value})

    assert response.status_code == 400, response.content[:300]
    assert b"plant" in response.content


@pytest.mark.parametrize("page", PAGES)
def test_a_well_formed_plant_id_of_no_plant_shows_the_first_plant(installer: Client, plant: Plant, page: str) -> None:
    response = installer.get(page, {"plant": "424242"})

    assert response.status_code == 200
    assert response.context["current_plant"] == plant


def test_a_bad_plant_changes_nothing_the_session_remembers(installer: Client, plant: Plant) -> None:
    second = Plant.objects.create(name="Barn", time_zone="Europe/Berlin")
    assert installer.get("/", {"plant": second.pk}).context["current_plant"] == second

    assert installer.get("/", {"plant": "²"}).status_code == 400

    assert installer.get("/").context["current_plant"] == second


@pytest.mark.parametrize("value", ["²", "-1", "25", "99999999999999999999", "abc"])
def test_a_malformed_hour_on_the_tariff_overview_answers_400(installer: Client, plant: Plant, value: str) -> None:
    response = installer.get("/tariffs/", {"period": "hour", "hour": value})

    assert response.status_code == 400
    assert b"hour" in response.content


def test_the_admin_login_page_refuses_a_malformed_plant_too(client: Client, plant: Plant) -> None:
    assert client.get("/admin/login/", {"plant": "²"}).status_code == 400


# --- the parser itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [("1", 1, 10, 1), ("10", 1, 10, 10), (" 7 ", 1, 10, 7), ("-3", -5, 5, -3), ("0", 0, 24, 0), (str(MAX_ID), 1, MAX_ID, MAX_ID)],
)  # fmt: skip
def test_whole_numbers_in_range_are_read(text: str, low: int, high: int, expected: int) -> None:
    assert parse_int(text, low, high) == expected


@pytest.mark.parametrize("text", [*BAD_NUMBERS, "", "+1", "1_000", "١٢", "①", str(MAX_ID + 1)])
def test_anything_else_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(ValueError, match=f"between 1 and {MAX_ID}"):
        parse_int(text, 1, MAX_ID)


@given(st.text(max_size=30))
def test_any_text_either_parses_into_the_range_or_raises_value_error(text: str) -> None:
    try:
        value = parse_int(text, -1000, 1000)
    except ValueError:
        return
    assert -1000 <= value <= 1000
    assert text.strip().lstrip("-").isascii()


def test_absent_or_empty_parameters_give_the_default() -> None:
    assert id_param({}, "plant") is None
    assert int_param({"hour": ""}, "hour", low=0, high=24, default=3) == 3
    assert choice_param({"period": ""}, "period", ("day", "week"), "day") == "day"


def test_a_bad_parameter_names_itself() -> None:
    with pytest.raises(BadQueryParameter) as caught:
        choice_param({"period": "fortnight"}, "period", ("day", "week"), "day")
    assert caught.value.name == "period" and "day, week" in caught.value.problem


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/", "/tariffs/", "/modbus/", "/admin/login/", "/api/health"])
def test_every_page_sends_a_content_security_policy(installer: Client, plant: Plant, path: str) -> None:
    response = installer.get(path)

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    # The live dashboard's websocket, over ws: and wss: on this host.
    assert "connect-src 'self' ws://testserver wss://testserver" in policy


def test_inline_scripts_and_styles_carry_this_requests_nonce(installer: Client, plant: Plant) -> None:
    response = installer.get("/inverters/add/")

    policy = response["Content-Security-Policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    page = response.content.decode()
    assert f'<script nonce="{nonce}">' in page
    assert f'<style nonce="{nonce}">' in page
    assert "<script>" not in page and "<style>" not in page
    assert installer.get("/inverters/add/")["Content-Security-Policy"] != policy  # a new nonce per request


def test_logged_in_pages_and_api_are_not_stored(installer: Client, plant: Plant) -> None:
    for path in ["/", "/tariffs/", f"/api/plants/{plant.pk}/state"]:
        response = installer.get(path)
        assert "no-store" in response["Cache-Control"], path


def test_cookies_are_secure_in_production() -> None:
    def secure(environment: dict[str, str]) -> str:
        code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
        env = {"DJANGO_SETTINGS_MODULE": "ksem_site.settings", "DJANGO_SECRET_KEY": "x" * 50, **environment}
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    assert secure({"KSEM_PRODUCTION": "true"}) == "True True"
    assert secure({"KSEM_PRODUCTION": "false"}) == "False False"


@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_with_the_production_setting_cookies_are_sent_secure(installer: Client, plant: Plant) -> None:
    login_page = Client().get("/login/")
    assert login_page.cookies["csrftoken"]["secure"] is True

    switched = installer.get("/", {"plant": plant.pk})  # the session changes, so its cookie is sent
    assert switched.cookies["sessionid"]["secure"] is True
