"""The tariff pages in a real headless Chromium against the web process (TAR-1, TAR-2)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page

from plant.models import Plant
from tariffs import services
from tariffs.models import EnergyHour, TariffVersion
from tariffs.pricing import HOUR, buckets
from tests.browser import chromium, page_as, session_cookie_of
from tests.stack import Stack

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def plant(web: Stack, transactional_db: None) -> Plant:
    """A plant with a year of history and a purchase tariff: made before the browser's event loop runs."""
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    a_year_of_history(plant)
    return plant


@pytest.fixture
def page(web: Stack, plant: Plant) -> Iterator[Page]:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("viewer", password="Secret-Pass-1"))
    cookie = session_cookie_of(client, web.base_url)
    with chromium() as browser:
        yield page_as(browser, cookie, viewport={"width": 1280, "height": 900}, locale="en-GB")


def a_year_of_history(plant: Plant) -> None:
    rows = []
    for month, (start, end) in enumerate(buckets("year", dt.date(2026, 1, 1), BERLIN)):
        moment = start
        while moment < end:
            rows.append(EnergyHour(plant=plant, start=moment, purchase_mwh=200_000 + 20_000 * abs(6 - month),
                                   feed_in_mwh=50_000 * (6 - abs(6 - month)), gap=moment.day == 3 and month == 4))  # fmt: skip
            moment += HOUR
    EnergyHour.objects.bulk_create(rows)
    services.save_version(plant, "purchase", valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), basic_charge=Decimal(20),
                          names=["night", "day"], prices=[Decimal("0.18"), Decimal("0.29")],
                          grid=[[0] * 6 + [1] * 16 + [0] * 2 for _ in range(7)])  # fmt: skip


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_year_chart_draws_and_a_legend_click_hides_a_series(web: Stack, page: Page, tmp_path: Path) -> None:
    page.goto(web.base_url + reverse("tariffs:overview") + "?period=year&date=2026-06-10&direction=purchase")
    canvas = page.locator("[data-testid=tariff-chart][data-bars='12']")
    canvas.wait_for(timeout=10_000)
    assert canvas.get_attribute("data-hidden") == ""
    drawn = page.evaluate("window.KSEM_TARIFF_CHART.data.datasets.map(d => d.data.length)")
    assert drawn == [12, 12]
    page.screenshot(path=tmp_path / "tariffs-year.png", full_page=True)

    # Click the second legend entry (costs) where Chart.js drew it on the canvas.
    box = page.evaluate(
        "(() => { const l = window.KSEM_TARIFF_CHART.legend;"
        " return l.legendHitBoxes[l.legendItems.findIndex(i => i.datasetIndex === 1)]; })()"
    )
    origin = canvas.bounding_box()
    assert origin is not None
    page.mouse.click(origin["x"] + box["left"] + box["width"] / 2, origin["y"] + box["top"] + box["height"] / 2)

    page.locator("[data-testid=tariff-chart][data-hidden=cost]").wait_for(timeout=5_000)
    assert page.evaluate("window.KSEM_TARIFF_CHART.isDatasetVisible(1)") is False
    assert page.evaluate("window.KSEM_TARIFF_CHART.isDatasetVisible(0)") is True
    page.screenshot(path=tmp_path / "tariffs-year-costs-hidden.png", full_page=True)

    # Previous goes back a year.
    page.click("[data-testid=previous]")
    page.locator("[data-testid=period-title]", has_text="2025").wait_for(timeout=5_000)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_working_prices_are_assigned_by_dragging_over_the_grid(
    web: Stack, plant: Plant, page: Page, tmp_path: Path
) -> None:
    page.goto(web.base_url + reverse("tariffs:edit", args=["feed_in"]))
    page.fill("[name=price_value] >> nth=0", "0.18")
    page.click("[data-add-price]")
    page.fill("[name=price_value] >> nth=1", "0.29")
    page.click("[data-add-price]")
    page.fill("[name=price_value] >> nth=2", "0.99")  # never assigned: removed on save
    # Monday to Friday, 06:00 to 21:00: drag from the first cell to the last.
    page.hover("td[data-day='0'][data-hour='6']")
    page.mouse.down()
    page.hover("td[data-day='2'][data-hour='12']")
    page.hover("td[data-day='4'][data-hour='21']")
    page.mouse.up()
    assert page.locator("td.is-selected").count() == 5 * 16
    page.click("[data-price-row] >> nth=1 >> [data-assign]")
    assert page.locator("td[data-index='1']").count() == 80
    page.screenshot(path=tmp_path / "tariffs-editor.png", full_page=True)
    page.click("[data-testid=save-tariff]")
    page.wait_for_url("**/tariffs/settings/**")

    # The browser driver runs an event loop in this thread: the ORM is asked from another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        version = pool.submit(TariffVersion.objects.get, plant=plant, direction="feed_in").result(timeout=10)
    assert [p["price"] for p in version.prices] == ["0.18", "0.29"]
    assert version.grid[0][5:8] == [0, 1, 1] and version.grid[4][21:23] == [1, 0] and version.grid[5] == [0] * 24
    page.screenshot(path=tmp_path / "tariffs-settings.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_and_smart_meter_show_the_same_totals_since_commissioning(
    web: Stack, plant: Plant, page: Page, tmp_path: Path
) -> None:
    """One truth for energy figures: the meter's own counters only in advanced mode, labelled as such."""
    from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, MeterReading, PhaseReading, PlantState
    from tests.pages import publish

    phase = PhaseReading(230.0, 3.0, 690.0, 10.0, 700.0, 0.99)
    own = EnergyCounters(active_import_wh=98_765_432.0, active_export_wh=1_234_567.0)
    state = PlantState(
        plant_id=plant.pk, timestamp=dt.datetime.now(dt.UTC), sequence=1,
        meter=MeterReading(2070.0, 30.0, 2100.0, 0.99, 50.0, (phase,) * 3, own, (own,) * 3),
        meter_status=DeviceStatus(name="meter", online=True),
        flow=EnergyFlow(grid_power_w=2070.0, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                        house_power_w=None, wallbox_power_w=None),
        totals=EnergyCounters(active_import_wh=4_321_000.0, active_export_wh=765_000.0),
        phase_totals=(EnergyCounters(active_import_wh=1_440_000.0),) * 3,
    )  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(publish, state).result(timeout=10)

    page.goto(web.base_url + reverse("plant:dashboard"))
    assert page.text_content("[data-testid=total-purchase]") == "4,321.00 kWh"
    page.goto(web.base_url + reverse("meter:smartmeter") + "?advanced=1")
    page.locator("[data-testid=connection-status][data-state=live]").wait_for(timeout=10_000)
    # After the script filled the cells from the snapshot (the same rules as the server's).
    assert page.text_content("[data-testid=active-energy-total]") == "4,321.00 kWh"
    assert page.text_content("[data-testid=meter-active-energy-total]") == "98,765.43 kWh"
    page.screenshot(path=tmp_path / "smartmeter-advanced.png", full_page=True)
    page.uncheck("[data-testid=advanced-mode]")
    assert page.is_hidden("[data-testid=meter-counters]")
    page.check("[data-testid=energy-direction-feed-in]")
    assert page.text_content("[data-testid=active-energy-total]") == "765.00 kWh"
