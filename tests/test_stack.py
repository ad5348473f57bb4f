"""The whole stack end to end: simulator -> worker cycle -> Redis -> web, websocket and browser.

Runs on PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set, on SQLite + embedded Redis otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import statistics
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Page
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from portal.services import DEVICE_USERNAME
from tests.browser import chromium
from tests.stack import Stack

pytestmark = pytest.mark.stack


def test_health_reports_every_part_fresh(stack: Stack):
    report = stack.wait_healthy()
    assert report["status"] == "ok"
    assert report["database"]["ok"] and report["redis"]["ok"]
    assert report["beat"]["last_tick_age_s"] <= 5
    (plant,) = report["plants"]
    assert plant["meter"]["online"] is True
    assert plant["meter"]["last_sample_age_s"] <= 5
    assert 0 < plant["cycle"]["duration_s"] < 1


def _session_cookie() -> str:
    client = Client()
    client.force_login(get_user_model().objects.get(username=DEVICE_USERNAME))
    return client.cookies["sessionid"].value


async def _receive(stack: Stack, cookie: str, count: int) -> list[dict]:
    url = f"ws://127.0.0.1:{stack.web_port}/ws/plants/{stack.plant_id}/live/"
    origin = Origin(f"http://127.0.0.1:{stack.web_port}")
    messages: list[dict] = []
    async with connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, origin=origin) as socket:
        while len(messages) < count:
            messages.append(json.loads(await asyncio.wait_for(socket.recv(), timeout=5)))
    return messages


def test_websocket_client_gets_a_new_snapshot_every_second(stack: Stack):
    messages = asyncio.run(_receive(stack, _session_cookie(), count=9))
    states = [m["state"] for m in messages if m["type"] == "state"]
    assert len(states) == 9
    # The first message is the latest value sent on connect; then one per cycle.
    live = states[1:]
    sequences = [s["sequence"] for s in live]
    assert sequences == sorted(set(sequences)), "each snapshot is a new cycle"
    times = [dt.datetime.fromisoformat(s["timestamp"]) for s in live]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert 0.8 <= statistics.fmean(gaps) <= 1.25, f"one snapshot per second: {gaps}"
    assert all(0.3 <= gap <= 2.1 for gap in gaps), f"no burst and no gap beyond one skipped tick: {gaps}"
    assert all(s["meter"] is not None and s["meter_status"]["online"] for s in live)


def test_websocket_refuses_anonymous_clients(stack: Stack):
    async def attempt() -> None:
        await _receive_raw(stack)

    with pytest.raises(ConnectionClosed) as closed:
        asyncio.run(attempt())
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401, "the page can tell 'logged out' from a network error"


async def _receive_raw(stack: Stack) -> None:
    url = f"ws://127.0.0.1:{stack.web_port}/ws/plants/{stack.plant_id}/live/"
    async with connect(url, origin=Origin(f"http://127.0.0.1:{stack.web_port}")) as socket:
        await asyncio.wait_for(socket.recv(), timeout=5)


@pytest.fixture
def page(stack: Stack) -> Iterator[Page]:
    """A fresh headless Chromium page (Debian's chromium; Playwright never downloads a browser)."""
    with chromium() as browser:
        yield browser.new_page()


def log_in(page: Page, stack: Stack, password: str) -> None:
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_load_state()


@pytest.mark.browser
def test_browser_logs_in_and_sees_grid_power_change(stack: Stack, page: Page):
    page.goto(stack.base_url + "/")
    assert "/login" in page.url, "the dashboard needs a login"
    log_in(page, stack, "wrong-password")
    assert "/login" in page.url
    log_in(page, stack, stack.password)
    grid = page.locator("[data-testid=grid-power]")
    grid.wait_for(timeout=10_000)
    page.locator("[data-testid=connection-status][data-state=live]").wait_for(timeout=10_000)
    first = grid.get_attribute("data-value-w")
    page.wait_for_function(
        "first => document.querySelector('[data-testid=grid-power]').dataset.valueW !== first",
        arg=first,
        timeout=10_000,
    )
    assert (grid.text_content() or "").strip().endswith("W"), "shown with its unit"


@pytest.mark.browser
def test_meter_outage_is_reported_and_recovers(stack: Stack, page: Page):
    """Last in the module: it takes the simulator away and brings it back."""
    stack.wait_healthy()
    page.goto(stack.base_url + "/")
    log_in(page, stack, stack.password)
    page.locator("[data-testid=meter-status][data-online=true]").wait_for(timeout=10_000)
    stack.stop("simulator")

    def offline() -> dict | None:
        status, report = stack.health()
        meter = report["plants"][0]["meter"]
        return report if status == 503 and not meter["online"] and meter["offline_since"] else None

    report = stack.wait_for(offline, 15, "health 503 with the meter offline")
    assert report["beat"]["ok"] and report["plants"][0]["cycle"]["ok"], "the cycle goes on without the meter"
    # What the operator sees, live, without reloading the page.
    status_line = page.locator("[data-testid=meter-status][data-online=false]")
    status_line.wait_for(timeout=10_000)
    assert "offline since" in (status_line.text_content() or "").lower()
    assert page.get_attribute("[data-testid=grid-power]", "data-value-w") == "", "no stale grid value"
    status, _ = stack.get_json(f"/api/plants/{stack.plant_id}/state")
    assert status in (401, 403), "the API needs authentication"

    stack.start("simulator")
    recovered = stack.wait_healthy(timeout_s=20)
    assert recovered["plants"][0]["meter"]["online"]
    page.locator("[data-testid=meter-status][data-online=true]").wait_for(timeout=10_000)
    time.sleep(2)
    log = (stack.logs / "worker.log").read_text()
    assert log.count("meter offline") == 1, "one log line per outage, not one per second"
    assert log.count("meter back online") == 1
