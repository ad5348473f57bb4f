"""A person in a real headless Chromium sets up two-factor login and logs in with it (ACC-1)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django_otp.oath import totp
from playwright.sync_api import Page

from portal.services import reset_device_password
from tests.browser import chromium
from tests.stack import Stack


def app_code(secret_text: str, steps_ahead: int = 0) -> str:
    """What an authenticator app that was given ``secret_text`` shows."""
    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, 30, 0, 6, steps_ahead):06d}"


def log_in(page: Page, base_url: str, password: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[type=password]", password)
    submit(page, "[data-testid=login-submit]")


def submit(page: Page, selector: str) -> None:
    """Click what posts a form and wait for the page it leads to (not the one still showing)."""
    with page.expect_navigation():
        page.click(selector)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_enrol_totp_and_log_in_with_it(web: Stack, tmp_path: Path) -> None:
    password = reset_device_password()  # before the browser: its driver runs an event loop in this thread
    with chromium() as browser:
        page = browser.new_context(locale="en-GB").new_page()
        log_in(page, web.base_url, password)
        page.click("[data-testid=menu-profile]")
        page.click("[data-testid=two-factor-link]")
        assert page.locator("[data-testid=totp-qr] svg").is_visible(), "the QR code is drawn"
        secret = (page.text_content("[data-testid=totp-secret]") or "").strip()
        page.fill("input[name=code]", app_code(secret))
        submit(page, "[data-testid=confirm-totp]")
        codes = page.locator("[data-testid=backup-codes] code").all_text_contents()
        assert len(codes) == 10
        page.screenshot(path=tmp_path / "backup-codes.png", full_page=True)
        page.click("[data-testid=backup-codes-done]")
        assert page.get_attribute("[data-testid=two-factor-state]", "data-state") == "on"
        submit(page, "[data-testid=logout]")

        log_in(page, web.base_url, password)
        assert "/login/code/" in page.url, "the password alone is not enough now"
        page.goto(web.base_url + "/")
        assert "/login/code/" in page.url
        page.fill("input[name=code]", app_code(secret, 1))
        submit(page, "[data-testid=verify-submit]")
        assert page.url.rstrip("/") == web.base_url
        assert page.locator("[data-testid=menu-profile]").is_visible()
