"""The wallbox pages in a real headless Chromium against the web process (WB-5 Time Mode editor,
WB-11 phase-load chart)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Page

from energy import config as energy
from energy.state import DeviceStatus, WallboxState
from plant.models import Plant
from plant.options import WALLBOX, set_option
from tests.browser import chromium, page_as, session_cookie_of
from tests.stack import Stack
from wallbox.models import MainsSettings, TimeModeSchedule, Wallbox
from wallbox.tests.test_pages import publish_box

CHARGING_1P = WallboxState(
    name="Carport", type="enector_11", status=DeviceStatus(name="Carport", online=True), state="charging",
    mode="power", configured_mode="power", phases=1, power_w=3680.0, vehicle_connected=True,
    phase_currents_a=(16.0, 0.0, 0.0),
)  # fmt: skip


@pytest.fixture
def box(web: Stack, transactional_db: None) -> Wallbox:
    """Made before the browser's event loop runs (the ORM refuses to run inside it)."""
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    set_option(plant, WALLBOX)
    MainsSettings.objects.create(plant=plant, fuse_l1_a=25, fuse_l2_a=25, fuse_l3_a=25)
    return Wallbox.objects.create(plant=plant, name="Carport", interface="A")


@pytest.fixture
def page(web: Stack, box: Wallbox) -> Iterator[Page]:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("installer2", password="Secret-Pass-1"))
    cookie = session_cookie_of(client, web.base_url)
    with chromium() as browser:
        yield page_as(browser, cookie, viewport={"width": 1280, "height": 900}, locale="en-GB")


def cell(page: Page, day: int, hour: int) -> Any:
    return page.locator(f"[data-mode-grid] td[data-day='{day}'][data-hour='{hour}']")


def drag(page: Page, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Press on one hour cell and release on another, as a person selects a block."""
    page.locator("[data-mode-grid]").scroll_into_view_if_needed()
    first = cell(page, *start).bounding_box()
    last = cell(page, *end).bounding_box()
    assert first and last
    page.mouse.move(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] / 2, last["y"] + last["height"] / 2, steps=8)
    page.mouse.up()


def modes_shown(page: Page, day: int) -> list[str]:
    return [cell(page, day, hour).get_attribute("data-mode") or "" for hour in range(24)]


def test_time_mode_week_edited_across_two_days_copied_to_all_days_and_saved(web: Stack, box: Wallbox, page: Page):
    page.goto(f"{web.base_url}/wallbox/{box.pk}/")
    # Monday 08:00 to Tuesday 11:00: a block over two days, hours 8-11 of each.
    drag(page, (0, 8), (1, 11))
    assert page.locator("[data-mode-grid] td.is-selected").count() == 8
    page.locator("input[name=pick][value=lock]").check()
    page.locator("[data-assign]").click()
    expected = [energy.POWER] * 8 + [energy.LOCK] * 4 + [energy.POWER] * 12
    assert modes_shown(page, 0) == expected and modes_shown(page, 1) == expected
    assert modes_shown(page, 2) == [energy.POWER] * 24, "Wednesday was not selected"

    # Saturday gets Solar Pure at noon, then Tuesday is copied over the whole week (Saturday too).
    drag(page, (5, 12), (5, 13))
    page.locator("input[name=pick][value=solar_pure]").check()
    page.locator("[data-assign]").click()
    assert modes_shown(page, 5)[12:14] == [energy.SOLAR_PURE] * 2
    page.locator("[data-copy-from]").select_option("1")
    page.locator("[data-copy-all]").click()
    assert all(modes_shown(page, day) == expected for day in range(7))

    page.get_by_test_id("save-time-mode").click()
    page.wait_for_load_state("load")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the ORM stays out of the browser's event loop
        saved = pool.submit(lambda: TimeModeSchedule.objects.get(wallbox=box).days).result(timeout=10)
    assert saved == [expected] * 7
    # What was saved is what the page shows after the reload.
    assert modes_shown(page, 6) == expected


def test_phase_load_chart_draws_the_phases_against_the_fuse(web: Stack, box: Wallbox, page: Page):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(publish_box, box.plant, CHARGING_1P, (27.0, 4.0, 3.0)).result(timeout=10)
    page.goto(f"{web.base_url}/wallbox/")
    chart = page.evaluate(
        """() => {
            const chart = window.Chart.getChart(document.getElementById("phase-load-chart"));
            return chart && {labels: chart.data.labels, sets: chart.data.datasets.map(d => [d.label, d.data]),
                             width: chart.width, height: chart.height};
        }"""
    )
    assert chart, "Chart.js drew the phase-load chart"
    assert chart["labels"] == ["L1", "L2", "L3"]
    sets = dict(chart["sets"])
    assert sets["Grid (A)"] == [27.0, 4.0, 3.0]
    assert sets["Charging (A)"] == [16.0, 0.0, 0.0]
    assert sets["Fuse (A)"] == [25.0, 25.0, 25.0]
    assert chart["width"] > 300 and chart["height"] > 100
    assert "is-over" in (page.get_by_test_id("phase-row-1").get_attribute("class") or "")


def test_the_gateway_fields_show_only_for_a_box_on_an_rs485_gateway(web: Stack, box: Wallbox, page: Page):
    page.goto(f"{web.base_url}/wallbox/{box.pk}/edit/")
    gateway = page.get_by_test_id("gateway-fields")
    assert gateway.is_hidden(), "a box on RS485 A has no gateway to enter"
    page.select_option("[name=interface]", "G")
    assert gateway.is_visible()
    assert page.locator("[name=gateway_port]").input_value() == "502", "the usual port is offered"
    page.select_option("[name=interface]", "B")
    assert gateway.is_hidden()
