"""The one way the browser tests start a browser: Debian's Chromium, headless, never a download."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import Client

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the length of the block, closed at its end."""
    from playwright.sync_api import sync_playwright  # imported when a browser test runs, not at collection

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(ARGS))
        try:
            yield browser
        finally:
            browser.close()


def page_as(browser: Browser, cookie: Mapping[str, str], **options: Any) -> Page:
    """A new page in a new context (``options``: viewport, locale, time zone) that carries ``cookie``,
    the session of a logged-in person (:func:`session_cookie_of`)."""
    context = browser.new_context(**options)
    context.add_cookies([dict(cookie)])  # type: ignore[list-item]
    return context.new_page()


def session_cookie_of(client: Client, base_url: str) -> dict[str, str]:
    """The logged-in test client's session as a cookie for a browser context on ``base_url``."""
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": base_url}  # fmt: skip
