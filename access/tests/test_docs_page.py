"""/api/docs/: Swagger UI's inline style is allowed by the page's own CSP, and nothing else inline."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from django.test import Client

from tests.browser import chromium
from tests.stack import Stack


def test_the_docs_page_allows_exactly_its_own_inline_style(installer_client: Client):
    response = installer_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert policy["style-src"] == f"'self' 'sha256-{digest}'"
    assert policy["script-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"] + policy["style-src"]
    assert "<script>" not in page  # the initialiser is a file of its own


def test_other_pages_keep_the_site_policy(installer_client: Client):
    policy = installer_client.get("/api/schema/")["Content-Security-Policy"]
    assert "'nonce-" in policy and "sha256" not in policy


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_in_chromium_without_a_csp_complaint(web: Stack) -> None:
    from portal.services import reset_device_password

    password = reset_device_password()  # before the browser: its driver runs an event loop in this thread
    base_url = f"http://127.0.0.1:{web.web_port}"
    with chromium() as browser:
        page = browser.new_context(locale="en-GB").new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(base_url + "/login/")
        page.fill("input[type=password]", password)
        page.click("[data-testid=login-submit]")
        page.wait_for_load_state()
        page.goto(base_url + "/api/docs/")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        body_margin = page.evaluate("getComputedStyle(document.body).margin")
    assert [text for text in console if "Content Security Policy" in text] == []
    assert body_margin == "0px", "the inline style applied"
