"""An installer in a real headless Chromium sets the device time from the browser, then resets the
device to its factory state: the page follows the worker's job to the end, and the new initial
password from the worker's console logs in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.models import DeviceSettings
from meter.models import Meter
from plant.models import Plant
from portal.services import DEVICE_USERNAME, reset_device_password
from tests.browser import chromium
from tests.stack import Stack

PASSWORD_LINE = re.compile(r"New initial device password for 'installer':\s+(\S+)")


def log_in(page, base_url: str, password: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", DEVICE_USERNAME)
    page.fill("input[type=password]", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_set_the_time_then_reset_the_device_and_log_in_again(web: Stack, tmp_path: Path) -> None:
    plant = Plant.objects.create(name="Home")
    Meter.objects.create(plant=plant, host="192.0.2.10")
    password = reset_device_password()
    web.start("worker")
    with chromium() as browser:
        page = browser.new_context(locale="en-GB").new_page()
        log_in(page, web.base_url, password)
        page.click("[data-testid=menu-device]")
        assert (page.text_content("[data-testid=serial-number]") or "").strip() == plant.serial_number
        page.click("[data-testid=set-time]")
        page.wait_for_load_state()
        offset = float((page.text_content("[data-testid=clock-offset]") or "").split()[0])
        assert abs(offset) < 30, offset  # this browser's clock is the host's
        assert not page.is_checked("input[name=ntp_enabled]")  # a time set by hand turns NTP off

        page.fill("input[name=confirmation]", "reset please")
        page.click("[data-testid=reset-button]")
        page.wait_for_selector("[data-testid=reset-message][data-state=failed]")
        assert "nothing was reset" in (page.text_content("[data-testid=reset-message]") or "")
        assert (page.text_content("[data-testid=reset-progress]") or "") == ""

        page.fill("input[name=confirmation]", "RESET")
        page.click("[data-testid=reset-button]")
        page.wait_for_selector("[data-testid=reset-message][data-state=done]", timeout=60_000)
        assert page.get_attribute("[data-testid=reset-progress]", "value") == "100"
        page.screenshot(path=tmp_path / "reset-done.png", full_page=True)

        console = (tmp_path / "worker.log").read_text()
        match = PASSWORD_LINE.search(console)
        assert match, console[-2000:]
        page.click("[data-testid=reset-message] a")
        log_in(page, web.base_url, match.group(1))
        page.click("[data-testid=menu-device]")
        assert (page.text_content("[data-testid=serial-number]") or "").strip() == plant.serial_number
    # No ORM while the browser's driver runs its event loop in this thread: checked afterwards.
    assert not Meter.objects.exists()
    assert not DeviceSettings.objects.exists()  # the factory values
    assert list(Plant.objects.values_list("serial_number", flat=True)) == [plant.serial_number]
