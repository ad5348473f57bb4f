"""On/off switches (feed-in limitation, battery management, ...): the toggle is a real toggle beside
its words, not a 2 px sliver drawn over the first letter (the generic field styles used to win)."""

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
def test_each_switch_sits_beside_its_words(web: Stack, width: int, tmp_path: Path) -> None:
    Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    cookie = session_cookie(web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, viewport={"width": width, "height": 900}, locale="en-GB")
        page.goto(web.base_url + reverse("plant:overview"))
        switches = page.locator("label.switch")
        assert switches.count() >= 2, "the overview's settings have the feed-in and battery switches"
        for index in range(switches.count()):
            label = switches.nth(index)
            toggle = label.locator("input[type=checkbox]")
            words = label.inner_text().strip()
            label.scroll_into_view_if_needed()
            t, box = toggle.bounding_box(), label.bounding_box()
            assert t is not None and box is not None
            assert t["width"] >= 30, f"the toggle of {words!r} is {t['width']} px wide"
            # The words start right of the toggle: measure the text node's box.
            text_left = label.evaluate(
                "l => { const r = document.createRange(); const n = [...l.childNodes].find("
                "c => c.nodeType === 3 && c.textContent.trim()); r.selectNodeContents(n);"
                " return r.getBoundingClientRect().left; }"
            )
            assert text_left >= t["x"] + t["width"], f"{words!r} starts under its toggle"
            before = toggle.is_checked()
            page.mouse.click(text_left + 8, t["y"] + t["height"] / 2)
            assert toggle.is_checked() != before, f"clicking {words!r} flips its switch"
        page.screenshot(path=tmp_path / f"switches-{width}.png", full_page=True)
