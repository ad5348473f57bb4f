"""The plant list in a real headless Chromium against the web process: an installer of 60 plants
filters for plants in error, searches, and pages through the list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page

from plant.models import Plant
from plant.tests.test_plant_list import make_fleet
from portal.models import Membership
from tests.browser import chromium, page_as, session_cookie_of
from tests.stack import Stack


@pytest.fixture
def plants(web: Stack, transactional_db: None) -> list[Plant]:
    return make_fleet(60, timezone.now())


@pytest.fixture
def page(web: Stack, plants: list[Plant]) -> Iterator[Page]:
    user = get_user_model().objects.create_user("ina", password="Person-Pass-1")
    Membership.objects.bulk_create(Membership(user=user, plant=p, role="installer") for p in plants)
    client = Client()
    client.force_login(user)
    with chromium() as browser:
        yield page_as(browser, session_cookie_of(client, web.base_url), viewport={"width": 1280, "height": 900},
                      locale="en-GB")  # fmt: skip


def shown(page: Page) -> list[str]:
    return [name.strip() for name in page.locator("[data-testid=plant-name]").all_text_contents()]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_installer_filters_searches_and_pages_the_plant_list(web: Stack, page: Page, plants: list[Plant]) -> None:
    page.goto(web.base_url + "/")
    page.click("[data-testid=menu-plants]")
    page.wait_for_url("**/plants/")
    assert page.get_attribute("[data-testid=plant-count]", "data-count") == "60"
    assert shown(page) == [f"Hof {n:03d}" for n in range(25)]
    page.click("[data-testid=page-next]")
    page.click("[data-testid=page-next]")
    assert shown(page) == [f"Hof {n:03d}" for n in range(50, 60)]
    assert "Page 3 of 3" in (page.text_content("[data-testid=page-number]") or "")
    assert page.locator("[data-testid=page-next]").count() == 0

    page.select_option("[data-testid=filter-status]", "stale")
    with page.expect_navigation():
        page.click("[data-testid=plant-filter-submit]")
    assert shown(page) == [f"Hof {n:03d}" for n in range(60) if n % 10 == 9]
    assert set(page.locator("[data-testid=plant-row]").evaluate_all("rows => rows.map(r => r.dataset.status)")) == {
        "stale"
    }

    page.select_option("[data-testid=filter-status]", "")
    page.select_option("[data-testid=filter-charging]", "yes")
    with page.expect_navigation():
        page.click("[data-testid=plant-filter-submit]")
    charging = [f"Hof {n:03d}" for n in range(60) if n % 3 == 0 and n % 10 != 9]
    assert shown(page) == charging[:25] and len(charging) == 18

    page.select_option("[data-testid=filter-charging]", "")
    page.select_option("[data-testid=filter-status]", "error")
    page.fill("[data-testid=plant-search]", "Hof 0")
    with page.expect_navigation():
        page.click("[data-testid=plant-filter-submit]")
    errors = [f"Hof {n:03d}" for n in range(60) if n % 7 == 6 and n % 10 != 9]
    assert shown(page) == errors
    assert all("meter" in text for text in page.locator("[data-testid=plant-errors]").all_text_contents())
    page.click("[data-testid=plant-name] >> nth=0")
    page.wait_for_url(f"**/?plant={plants[6].pk}")
