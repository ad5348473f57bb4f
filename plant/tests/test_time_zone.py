"""Every page shows times in the plant's time zone and says which (issue 13.9); the API stays UTC.

The plant here is in Asia/Kolkata (UTC+05:30, no daylight saving time), and the browser in the
live test in New York, so neither UTC nor the browser's zone can pass for the plant's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from access.models import AccessToken
from plant.models import Plant
from plant.tests.test_dashboard_page import make_state
from plant.tests.test_overview_page import broadcast, session_cookie
from tests.browser import chromium, page_as
from tests.pages import by_testid, publish, text_of
from tests.stack import Stack

ZONE = "Asia/Kolkata"
AT = dt.datetime(2026, 6, 1, 12, 0, 5, tzinfo=dt.UTC)  # 17:30:05 in Kolkata


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone=ZONE)


PAGES = ["plant:dashboard", "plant:overview", "meter:smartmeter", "inverters:list", "tariffs:overview",
         "modbus:settings", "portal:profile", "licences"]  # fmt: skip


@pytest.mark.parametrize("name", PAGES)
def test_every_page_names_the_plants_time_zone(user_client: Client, plant: Plant, name: str) -> None:
    page = user_client.get(reverse(name)).content.decode()
    assert text_of(page, "time-zone") == f"Times in {ZONE}"
    assert by_testid(page, "footer")[1]
    assert 'data-time-zone="Asia/Kolkata"' in page


def test_the_live_status_is_in_the_plants_zone(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, timestamp=AT))
    page = user_client.get(reverse("plant:dashboard")).content.decode()
    assert text_of(page, "last-update").endswith("06/01/2026 17:30:05")


def test_the_modbus_register_map_is_in_the_served_plants_zone(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, timestamp=AT))
    page = user_client.get(reverse("modbus:settings")).content.decode()
    assert text_of(page, "map-time") == "June 1, 2026, 17:30 (Asia/Kolkata)"


def test_a_tokens_last_use_is_in_the_plants_zone(user_client: Client, plant: Plant) -> None:
    user = get_user_model().objects.get(username="someone")
    token = AccessToken.objects.create(name="app", role="api", prefix="abcd1234", expires_on=dt.date(2030, 1, 1),
                                       user=user, secret_hash="x" * 64, last_used_at=AT)  # fmt: skip
    page = user_client.get(reverse("access:tokens")).content.decode()
    assert text_of(page, f"token-last-used-{token.pk}") == "06/01/2026 17:30"


def test_the_api_answers_in_utc(user_client: Client, plant: Plant) -> None:
    publish(make_state(plant, timestamp=AT))
    body = user_client.get(f"/api/plants/{plant.pk}/state").json()
    assert body["timestamp"] in ("2026-06-01T12:00:05Z", "2026-06-01T12:00:05+00:00")
    plants = user_client.get("/api/plants/").json()["results"]
    assert plants[0]["commissioned_at"] is None or plants[0]["commissioned_at"].endswith(("Z", "+00:00"))


# ---- in a browser in another zone --------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_times_follow_the_plants_zone_not_the_browsers(web: Stack) -> None:
    plant = Plant.objects.create(name="Live plant", time_zone=ZONE)
    first = make_state(plant, timestamp=AT)
    publish(first)
    cookie = session_cookie(web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, locale="en-US", timezone_id="America/New_York")
        page.goto(web.base_url + reverse("plant:dashboard"))
        page.locator("[data-testid=connection-status][data-state=live]").wait_for(timeout=10_000)
        time = "[data-testid=last-update] [data-role=time]"
        # The script re-rendered the first snapshot: the same text as the server's.
        assert page.text_content(time) == "06/01/2026 17:30:05"
        later = dataclasses.replace(first, sequence=first.sequence + 1, timestamp=AT + dt.timedelta(hours=7))
        broadcast(later)
        page.locator(f'{time}:text("06/02/2026 00:30:05")').wait_for(timeout=10_000)
        assert page.text_content("[data-testid=time-zone]") == f"Times in {ZONE}"
