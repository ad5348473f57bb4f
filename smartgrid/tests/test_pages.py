"""The Smart grid page and API as people and clients see them: state, failsafe notice in the
header, failsafe values the installer may change (validated), history 10 per page, and no
look into another plant."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from energy import gridlimit as g
from energy import snapshot
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from plant.models import Plant
from redisconn import sync_redis
from redisconn.snapshots import state_key
from smartgrid import services
from smartgrid.models import GridLimits

pytestmark = pytest.mark.django_db(transaction=True)


def page(client: Client, plant: Plant, **query: int | str) -> str:
    params: dict[str, int | str] = {"plant": plant.pk, **query}
    response = client.get("/smartgrid/", params)
    assert response.status_code == 200
    return response.content.decode()


def limited(plant: Plant, writes: int = 1) -> None:
    now = timezone.now()
    services.set_enabled(plant.pk, True, now=now - dt.timedelta(seconds=100))
    for n in range(writes):
        services.heartbeat(plant.pk, now=now - dt.timedelta(seconds=60 - n * 0.01))
        services.write_limit(
            plant.pk, g.CONSUME, active=True, value_w=4000.0 + n, duration_s=900.0,
            now=now - dt.timedelta(seconds=59 - n * 0.01),
        )  # fmt: skip


def test_menu_entry_and_page_for_a_plant_not_controlled(installer: Client, plant: Plant) -> None:
    html = page(installer, plant)
    assert 'data-testid="menu-smartgrid"' in html
    assert 'data-testid="grid-off"' in html
    assert "10.00 kW" in html  # the default failsafe values


def test_limited_shows_the_limit_and_the_history(installer: Client, plant: Plant) -> None:
    limited(plant)
    html = page(installer, plant)
    assert 'data-state="limited"' in html and "4.00 kW" in html
    # init with failsafe values (both directions), then the limit
    assert html.count('class="history-row"') == 3


def test_failsafe_is_said_on_the_page_and_in_the_header(operator: Client, plant: Plant) -> None:
    services.set_enabled(plant.pk, True, now=timezone.now() - dt.timedelta(seconds=300))
    html = page(operator, plant)
    assert 'data-testid="grid-failsafe"' in html
    # The header (every page, the dashboard too) says so once the cycle published it.
    status = services.status(plant.pk)
    state = PlantState(
        plant_id=plant.pk,
        timestamp=timezone.now(),
        sequence=1,
        meter=None,
        meter_status=DeviceStatus(name="meter", online=False),
        flow=EnergyFlow(
            grid_power_w=None,
            pv_power_w=None,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=None,
            wallbox_power_w=None,
        ),
        totals=EnergyCounters(),
        grid_limits=status,
    )
    sync_redis().set(state_key(plant.pk), snapshot.to_json(state), ex=60)
    dashboard = operator.get("/", {"plant": plant.pk}).content.decode()
    assert 'data-testid="grid-limit-notice"' in dashboard
    assert "Power limitation is active with failsafe values." in dashboard


def test_history_pages_first_previous_next_last(installer: Client, plant: Plant) -> None:
    limited(plant, writes=24)  # 26 entries (init of both directions, 24 limits): 3 pages
    first = page(installer, plant)
    assert first.count('class="history-row"') == 10
    assert "Page 1 of 3" in first and 'data-testid="page-next"' in first
    assert 'data-testid="page-previous"' not in first
    last = page(installer, plant, page=3)
    assert last.count('class="history-row"') == 6 and 'data-testid="page-next"' not in last
    assert page(installer, plant, page=99).count('class="history-row"') == 6  # clamped to the last
    assert installer.get(f"/smartgrid/?plant={plant.pk}&page=x").status_code == 400


def test_installer_changes_failsafe_values_validated(installer: Client, plant: Plant) -> None:
    form = {
        "enabled": "on",
        "failsafe_consumption_w": "4200",
        "failsafe_production_w": "6000",
        "failsafe_duration_s": "3600",
        "consumption_nominal_max_w": "32000",
        "production_nominal_max_w": "10000",
    }
    response = installer.post(f"/smartgrid/?plant={plant.pk}", form)
    assert response.status_code == 400 and "7200" in response.content.decode()
    assert services.settings_of(plant.pk).failsafe_consumption_w == 10_000.0  # unchanged
    response = installer.post(f"/smartgrid/?plant={plant.pk}", {**form, "failsafe_duration_s": "14400"})
    assert response.status_code == 302
    row = GridLimits.objects.get(plant=plant)
    assert (row.enabled, row.failsafe_consumption_w, row.failsafe_production_w, row.failsafe_duration_s) == (
        True, 4200.0, 6000.0, 14_400.0,
    )  # fmt: skip
    assert services.status(plant.pk) is not None and services.status(plant.pk).lpc_w == 4200.0  # type: ignore[union-attr]


def test_operator_may_read_not_change(operator: Client, plant: Plant) -> None:
    assert 'data-testid="read-only"' in page(operator, plant)
    response = operator.post(f"/smartgrid/?plant={plant.pk}", {"failsafe_duration_s": "7200"})
    assert response.status_code == 403
    assert operator.put(f"/api/plants/{plant.pk}/smartgrid", {"failsafe_duration_s": 7200},
                        content_type="application/json").status_code == 403  # fmt: skip


def test_another_plant_is_not_shown(installer: Client, plant: Plant, other_plant: Plant) -> None:
    assert installer.get("/smartgrid/", {"plant": other_plant.pk}).status_code in (403, 404)
    assert installer.get(f"/api/plants/{other_plant.pk}/smartgrid").status_code == 403
    assert installer.get(f"/api/plants/{other_plant.pk}/smartgrid/history").status_code == 403


def test_api_state_history_and_settings(installer: Client, plant: Plant) -> None:
    limited(plant, writes=12)
    body = installer.get(f"/api/plants/{plant.pk}/smartgrid").json()
    assert body["enabled"] and body["lpc"]["state"] == "limited" and body["lpc"]["limit_w"] == 4011.0
    assert body["lpp"]["state"] == "init" and body["failsafe_active"] is True
    assert body["settings"]["failsafe_duration_s"] == 7200.0
    history = installer.get(f"/api/plants/{plant.pk}/smartgrid/history").json()
    assert (history["count"], history["pages"], len(history["results"])) == (14, 2, 10)  # 2 inits, 12 limits
    assert installer.get(f"/api/plants/{plant.pk}/smartgrid/history?page=2").json()["results"][-1]["kind"] == "failsafe"
    bad = installer.put(f"/api/plants/{plant.pk}/smartgrid", {"failsafe_duration_s": 100_000},
                        content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "failsafe_duration_s" in bad.json()
    good = installer.put(f"/api/plants/{plant.pk}/smartgrid", {"failsafe_production_w": 5000},
                         content_type="application/json")  # fmt: skip
    assert good.status_code == 200 and good.json()["settings"]["failsafe_production_w"] == 5000.0
    assert good.json()["lpp"]["limit_w"] == 5000.0


def test_in_german(installer: Client, plant: Plant) -> None:
    services.set_enabled(plant.pk, True, now=timezone.now() - dt.timedelta(seconds=300))
    installer.cookies["django_language"] = "de"
    html = page(installer, plant)
    assert "Die Leistungsbegrenzung ist mit Failsafe-Werten aktiv." in html
    assert "Historie der empfangenen Begrenzungen" in html


def _shown(moment: dt.datetime) -> str:
    """A date and time as the page shows it: the plant's local time, one format (date, 24 h time)."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/Berlin"))
    return local.strftime("%m/%d/%Y %H:%M:%S")


def test_dates_in_one_format_and_limited_until_is_the_limits_end(installer: Client, plant: Plant) -> None:
    now = timezone.now().replace(microsecond=0)
    services.set_enabled(plant.pk, True, now=now - dt.timedelta(seconds=100))
    services.heartbeat(plant.pk, now=now - dt.timedelta(seconds=60))
    written = now - dt.timedelta(seconds=59)
    services.write_limit(plant.pk, g.CONSUME, active=True, value_w=4200.0, duration_s=900.0, now=written)
    html = page(installer, plant)
    row = re.search(r'data-testid="grid-direction-1" data-state="limited">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    # Direction, state, limit, since (the write), until: the limit's end, not the heartbeat's deadline.
    assert cells == ["Consumption (LPC)", "Limited", "4.20 kW", _shown(written),
                     _shown(written + dt.timedelta(seconds=900))]  # fmt: skip
    # The heartbeat's deadline has a line of its own, said as what it is.
    deadline = re.search(r'data-testid="grid-heartbeat-deadline">(.*?)</p>', html, re.S)
    assert deadline is not None
    assert "Without a heartbeat, the failsafe values apply from" in deadline.group(1)
    assert _shown(now + dt.timedelta(seconds=60)) in deadline.group(1)
    # No time shown twice (once 12-hour, once 24-hour) anywhere on the page.
    assert "a.m." not in html and "p.m." not in html


def test_history_words_are_capitalised(installer: Client, plant: Plant) -> None:
    limited(plant)
    html = page(installer, plant)
    rows = re.findall(r'<tr class="history-row">(.*?)</tr>', html, re.S)
    shown = [re.findall(r"<td>(.*?)</td>", row, re.S)[:2] for row in rows]
    assert ["Consumption (LPC)", "Limited"] in shown
    assert ["Consumption (LPC)", "Limited with failsafe value"] in shown
    assert ["Production (LPP)", "Limited with failsafe value"] in shown
    assert "consumption (LPC)" not in html and "production (LPP)" not in html


def test_smart_grid_and_connections_pages_in_german(installer: Client, plant: Plant) -> None:
    limited(plant)
    installer.cookies["django_language"] = "de"
    html = page(installer, plant)
    for text in (
        "Bezug (LPC)",
        "Begrenzt",
        "Begrenzt mit Failsafe-Wert",
        "Ohne Heartbeat gelten die Failsafe-Werte ab",
    ):
        assert text in html, text
    # German dates: day.month.year and the 24-hour time.
    assert re.search(r"<td>\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d</td>", html)
    connections = installer.get("/smartgrid/connections/", {"plant": plant.pk}).content.decode()
    for text in ("EEBus-Verbindungen", "Dieser Energiemanager", "Neue Verbindung", "Verbinden", "Zurück zu Smart Grid"):
        assert text in connections, text
