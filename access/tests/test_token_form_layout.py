"""The role choice on the token page: each radio button sits beside its own label (issue 13.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from plant.models import Plant
from plant.tests.test_overview_page import session_cookie
from tests.browser import chromium, page_as
from tests.stack import Stack


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_each_role_radio_sits_beside_its_label(web: Stack, width: int, tmp_path: Path) -> None:
    Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    cookie = session_cookie(web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, viewport={"width": width, "height": 900}, locale="en-GB")
        page.goto(web.base_url + reverse("access:tokens"))
        radios = page.locator("input[name=role]")
        assert radios.count() == 2
        for index in range(2):
            radio = radios.nth(index)
            label = page.locator(f"label[for='{radio.get_attribute('id')}']")
            r, t = radio.bounding_box(), label.bounding_box()
            assert r is not None and t is not None
            # The button is inside its label's box, at its left edge, on the text's line.
            assert t["x"] - 1 <= r["x"] <= t["x"] + 4, (r, t)
            assert t["y"] - 1 <= r["y"] and r["y"] + r["height"] <= t["y"] + t["height"] + 1, (r, t)
        label = page.locator("label[for='id_role_1']")
        label.click()
        assert radios.nth(1).is_checked(), "clicking the words chooses the role"
        page.screenshot(path=tmp_path / f"tokens-{width}.png", full_page=True)
