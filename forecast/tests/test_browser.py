"""The forecast chart in a real headless Chromium against the web process: the dashboard card
draws 36 hours of forecast beside the measured last hours, and the forecast page says where the
location comes from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page

from inverters.models import Inverter
from meter.models import MeterLog
from plant.models import Plant
from tests.browser import chromium, page_as, session_cookie_of
from tests.stack import Stack


@pytest.fixture
def plant(web: Stack, transactional_db: None) -> Plant:
    """A plant with a PV inverter and 12 hours of 5-minute log: made before the browser's event loop runs."""
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    Inverter.objects.create(plant=plant, name="Roof", type=Inverter.Type.PLENTICORE, max_ac_w=8000, host="10.0.0.2")
    now = timezone.now().replace(second=0, microsecond=0)
    first = now - dt.timedelta(hours=12, minutes=now.minute % 5)
    MeterLog.objects.bulk_create(
        MeterLog(
            plant=plant,
            start=first + dt.timedelta(minutes=5 * n),
            samples=300,
            grid_power_w=0.0,
            pv_power_w=1000.0,
            house_power_w=500.0,
        )
        for n in range(144)
    )
    return plant


@pytest.fixture
def page(web: Stack, plant: Plant) -> Iterator[Page]:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("viewer", password="Secret-Pass-1"))
    cookie = session_cookie_of(client, web.base_url)
    with chromium() as browser:
        yield page_as(browser, cookie, viewport={"width": 1280, "height": 900}, locale="en-GB")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_draws_the_forecast_beside_the_measured_hours(web: Stack, page: Page, tmp_path: Path) -> None:
    page.goto(web.base_url + "/")
    page.locator("[data-testid=forecast-chart][data-slots='144']").wait_for(timeout=15_000)
    drawn = page.evaluate(
        "Chart.getChart(document.getElementById('forecast-chart')).data.datasets.map(d => d.data.length)"
    )
    assert drawn[:2] == [144, 144]  # PV and house forecast
    assert drawn[2] == drawn[3] >= 100  # PV and house measured, the last 12 hours
    assert page.locator("[data-testid=forecast-status]").is_hidden()
    summary = page.locator("[data-testid=forecast-summary]")
    assert summary.is_visible()
    assert "kWh" in (summary.text_content() or "")
    # 500 W measured for 12 hours, nothing else known: 500 W all day (the current slot counts too).
    assert int(summary.get_attribute("data-load-wh") or 0) == pytest.approx(500 * 24, rel=0.03)
    page.screenshot(path=tmp_path / "dashboard-forecast.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_forecast_page_says_the_location_is_the_time_zones_until_it_is_set(web: Stack, page: Page) -> None:
    page.goto(web.base_url + "/forecast/")
    assert "no location set" in (page.text_content("[data-testid=forecast-location]") or "")
    page.fill("input[name=latitude_deg]", "48.1")
    page.fill("input[name=longitude_deg]", "11.6")
    with page.expect_navigation():
        page.click("[data-testid=forecast-location-save]")
    assert page.get_attribute("[data-testid=forecast-location]", "data-source") == "plant"
    assert "48.10° N, 11.60° E" in (page.text_content("[data-testid=forecast-location]") or "")
    page.locator("[data-testid=forecast-chart][data-slots='144']").wait_for(timeout=15_000)
