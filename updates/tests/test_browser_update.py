"""An installer in a real headless Chromium uploads update packages on Device > Software update:
a badly signed one is refused with the reason, a good one shows the upload's and the install's
progress (run by a real worker) and the new version afterwards (DEV-4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from portal.services import reset_device_password
from tests.browser import chromium
from tests.stack import Stack, free_port
from updates import package
from updates.tests.conftest import Keys, make_package


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_shows_progress_and_the_new_version(keys: Keys, tmp_path: Path) -> None:
    good, bad = tmp_path / "ksem-0.2.0.ksemupd", tmp_path / "forged.ksemupd"
    good.write_bytes(make_package(keys, "0.2.0"))
    bad.write_bytes(make_package(Keys(package.load_private_key(package.new_key_pair()[0]), keys.public_path), "0.2.0"))
    stack = Stack(
        meter_port=free_port(),
        web_port=free_port(),
        logs=tmp_path,
        extra_env={"KSEM_UPDATE_PUBLIC_KEY": str(keys.public_path)},
    )
    password = reset_device_password()  # before the browser: its driver runs an event loop in this thread
    stack.start("web")
    stack.start("worker")
    try:
        stack.wait_for(lambda: stack.health()[0] in (200, 503), 30, "the web process to answer")
        with chromium() as browser:
            page = browser.new_context(locale="en-GB").new_page()
            page.goto(stack.base_url + "/login/")
            page.fill("input[type=password]", password)
            page.click("[data-testid=login-submit]")
            page.wait_for_load_state()
            page.click("[data-testid=menu-update]")
            assert page.text_content("[data-testid=product-version]") == "0.1.0"

            page.set_input_files("input[type=file]", str(bad))
            page.click("[data-testid=update-upload]")
            message = page.locator("[data-testid=update-message]")
            message.and_(page.locator("[data-state=failed]")).wait_for(timeout=15_000)
            assert message.get_attribute("data-reason") == "bad_signature"
            assert "signature" in (message.text_content() or "")
            assert not (Path(settings.VAR_DIR) / "releases").exists()

            page.set_input_files("input[type=file]", str(good))
            page.click("[data-testid=update-upload]")
            page.locator("[data-testid=update-message][data-state=done]").wait_for(timeout=60_000)
            assert page.eval_on_selector("[data-testid=update-upload-progress]", "e => e.value") == 100
            assert page.eval_on_selector("[data-testid=update-install-progress]", "e => e.value") == 100
            assert "0.2.0" in (message.text_content() or "")
            page.screenshot(path=tmp_path / "update-done.png", full_page=True)

            page.reload()
            assert (page.text_content("[data-testid=installed-version]") or "").strip() == "0.2.0"
            assert page.locator("[data-testid=restart-needed]").is_visible()
    finally:
        stack.stop_all()
