"""The costs API, the tariff settings API and the tariff pages (TAR-1, TAR-2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from plant.models import Plant
from tariffs import services
from tariffs.models import EnergyHour, TariffSettings, TariffVersion
from tariffs.pricing import HOUR, local_midnight
from tests.pages import by_testid

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.date(2026, 6, 8)
DAY_NIGHT_GRID = [[0] * 6 + [1] * 16 + [0] * 2 for _ in range(7)]


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def fill_week(plant: Plant, monday: dt.date = MONDAY, energy_mwh: int = 1_000_000) -> None:
    start = local_midnight(monday, BERLIN)
    EnergyHour.objects.bulk_create(
        EnergyHour(plant=plant, start=start + n * HOUR, purchase_mwh=energy_mwh, feed_in_mwh=energy_mwh // 2)
        for n in range(7 * 24)
    )


def post_version(
    client: Client,
    plant: Plant,
    valid_from: str,
    day: str,
    night: str,
    charge: str = "20.00",
    direction: str = "purchase",
):
    return client.post(
        reverse("api-plant-tariff", args=[plant.pk, direction]),
        {
            "valid_from": valid_from,
            "basic_charge": charge,
            "prices": [{"name": "night", "price": night}, {"name": "day", "price": day}],
            "grid": DAY_NIGHT_GRID,
        },
        content_type="application/json",
    )


def costs(client: Client, plant: Plant, **params: str):
    return client.get(reverse("api-plant-costs", args=[plant.pk]), params)


def test_costs_of_a_week_by_day(user_client: Client, plant: Plant) -> None:
    fill_week(plant)
    TariffSettings.objects.create(plant=plant, currency="EUR")
    assert post_version(user_client, plant, "2020-01-01T00:00:00Z", "0.29", "0.18").status_code == 201

    body = costs(user_client, plant, period="week", date="2026-06-10", direction="purchase").json()

    assert body["currency"] == "EUR"
    assert len(body["buckets"]) == 7
    assert body["buckets"][0] == {
        "start": "2026-06-08T00:00:00+02:00",
        "end": "2026-06-09T00:00:00+02:00",
        "energy_kwh": "24.000",
        "cost": "6.08",  # 16 h x 0.29 + 8 h x 0.18
        "gap": False,
    }
    assert body["cost"] == "42.56"
    assert body["basic_charge"] == "4.67"  # 7/30 of 20.00
    assert body["previous"]["date"] == "2026-06-01" and body["next"]["date"] == "2026-06-15"
    feed_in = costs(user_client, plant, period="week", date="2026-06-10", direction="feed_in").json()
    assert feed_in["energy_kwh"] == "84.000" and feed_in["cost"] is None  # no feed-in tariff yet


def test_a_price_change_on_wednesday_leaves_monday_as_it_was(user_client: Client, plant: Plant) -> None:
    fill_week(plant)
    post_version(user_client, plant, "2020-01-01T00:00:00Z", "0.29", "0.18")
    before = costs(user_client, plant, period="week", date="2026-06-08").json()

    assert post_version(user_client, plant, "2026-06-10T00:00:00+02:00", "0.35", "0.21").status_code == 201
    after = costs(user_client, plant, period="week", date="2026-06-08").json()

    assert [b["cost"] for b in after["buckets"][:2]] == [b["cost"] for b in before["buckets"][:2]] == ["6.08", "6.08"]
    assert after["buckets"][2]["cost"] == "7.28"  # 16 x 0.35 + 8 x 0.21
    day = costs(user_client, plant, period="day", date="2026-06-08").json()
    assert day["cost"] == "6.08"


def test_the_year_view_has_twelve_bars_and_a_csv(user_client: Client, plant: Plant) -> None:
    fill_week(plant)
    body = costs(user_client, plant, period="year", date="2026-06-10").json()
    assert len(body["buckets"]) == 12
    assert body["buckets"][5]["energy_kwh"] == "168.000"
    assert body["buckets"][0]["energy_kwh"] is None  # nothing recorded: no data, not zero

    response = costs(user_client, plant, period="year", date="2026-06-10", format="csv")
    lines = response.content.decode().splitlines()
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0] == "start,end,energy_kwh,cost_EUR,gap"
    assert lines[6] == "2026-06-01T00:00:00+02:00,2026-07-01T00:00:00+02:00,168.000,,False"
    assert "attachment" in response["Content-Disposition"]


def test_the_hour_view_reads_the_five_minute_totals(user_client: Client, plant: Plant) -> None:
    from meter.models import EnergyRecord

    start = local_midnight(MONDAY, BERLIN) + 10 * HOUR
    EnergyRecord.objects.bulk_create(
        EnergyRecord(plant=plant, time=start + n * dt.timedelta(minutes=5), active_import_wh=100.0 * n,
                     active_export_wh=0, reactive_import_varh=0, reactive_export_varh=0, apparent_import_vah=0,
                     apparent_export_vah=0)
        for n in range(13) if n not in (4, 5)
    )  # fmt: skip
    post_version(user_client, plant, "2020-01-01T00:00:00Z", "0.30", "0.10")

    body = costs(user_client, plant, period="hour", date="2026-06-08", hour="10").json()

    assert len(body["buckets"]) == 12
    assert {b["energy_kwh"] for b in body["buckets"]} == {"0.100"}
    assert [b["gap"] for b in body["buckets"]].count(True) == 3  # 10:15-10:30 missing: spans the three around it
    assert body["cost"] == "0.36"
    assert body["previous"] == {"date": "2026-06-08", "hour": 9}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "decade"}, "period"),
        ({"date": "2026-13-01"}, "date"),
        ({"direction": "sideways"}, "direction"),
        ({"period": "hour", "date": "2026-03-29", "hour": "23"}, "hour"),  # the spring day has 23 hours
    ],
)
def test_a_bad_query_is_refused_naming_the_field(user_client: Client, plant: Plant, params: dict, field: str) -> None:
    response = costs(user_client, plant, **params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_the_api_needs_a_session(client: Client, plant: Plant) -> None:
    assert costs(client, plant).status_code == 401
    assert costs(Client(), plant, period="day").status_code == 401


def test_tariff_settings_over_the_api(user_client: Client, plant: Plant) -> None:
    url = reverse("api-plant-tariff-contract", args=[plant.pk])
    assert user_client.get(url).json() == {"currency": "EUR", "time_zone": "Europe/Berlin"}
    bad = user_client.put(url, {"time_zone": "Mars/Olympus"}, content_type="application/json")
    assert bad.status_code == 400 and list(bad.json()) == ["time_zone"]
    assert (
        user_client.put(
            url, {"currency": "CHF", "time_zone": "Europe/Zurich"}, content_type="application/json"
        ).status_code
        == 200
    )
    plant.refresh_from_db()
    assert plant.time_zone == "Europe/Zurich" and TariffSettings.objects.get(plant=plant).currency == "CHF"

    wrong = user_client.post(
        reverse("api-plant-tariff", args=[plant.pk, "feed_in"]),
        {"prices": [{"name": "flat", "price": "0.08"}], "grid": [[1] * 24] * 7},
        content_type="application/json",
    )
    assert wrong.status_code == 400 and list(wrong.json()) == ["grid"]
    short = user_client.post(
        reverse("api-plant-tariff", args=[plant.pk, "feed_in"]),
        {"prices": [{"name": "flat", "price": "0.08"}], "grid": [[0] * 24] * 6},
        content_type="application/json",
    )
    assert short.status_code == 400 and list(short.json()) == ["grid"]
    assert (
        post_version(user_client, plant, "2026-01-01T00:00:00Z", "0.08", "0.08", direction="feed_in").status_code == 201
    )
    listing = user_client.get(reverse("api-plant-tariff", args=[plant.pk, "feed_in"])).json()
    assert len(listing["versions"]) == 1 and listing["in_force"] == listing["versions"][0]["id"]


# ---- pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tariffs:overview", "tariffs:settings"])
def test_pages_need_a_login(client: Client, plant: Plant, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302 and reverse("portal:login") in response["Location"]


def test_the_overview_shows_the_period_and_links_to_its_neighbours(user_client: Client, plant: Plant) -> None:
    fill_week(plant)
    services.save_version(plant, "purchase", valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), basic_charge=Decimal(30),
                          names=["night", "day"], prices=[Decimal("0.18"), Decimal("0.29")], grid=DAY_NIGHT_GRID)  # fmt: skip

    page = user_client.get(reverse("tariffs:overview"), {"period": "week", "date": "2026-06-09"}).content.decode()

    assert by_testid(page, "period-title")[0] == "2026-06-08 – 2026-06-14"
    assert by_testid(page, "energy-total")[0] == "168.00 kWh"
    assert by_testid(page, "cost-total")[0] == "42.56 EUR"
    assert by_testid(page, "basic-charge")[0] == "7.00 EUR"
    assert "date=2026-06-01" in by_testid(page, "previous")[1]["href"]
    assert "format=csv" in by_testid(page, "costs-csv")[1]["href"]
    assert by_testid(page, "period-week")[1].get("aria-current") == "page"
    assert by_testid(page, "menu-tariffs")[1].get("aria-current") == "page"


def test_the_editor_saves_a_version_and_drops_prices_without_hours(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("tariffs:edit", args=["purchase"])).content.decode()
    assert by_testid(page, "price-grid")

    grid = ";".join(",".join(["0"] * 6 + ["2"] * 16 + ["0"] * 2) for _ in range(7))
    response = user_client.post(
        reverse("tariffs:edit", args=["purchase"]),
        {"valid_from": "2026-06-10T00:00", "basic_charge": "12.50", "grid": grid,
         "price_name": ["night", "unused", "day"], "price_value": ["0.18", "0.50", "0,29"]},
    )  # fmt: skip

    assert response.status_code == 302
    version = TariffVersion.objects.get(plant=plant, direction="purchase")
    assert version.valid_from == dt.datetime(2026, 6, 9, 22, tzinfo=dt.UTC)  # midnight in Berlin
    assert version.prices == [{"name": "night", "price": "0.18"}, {"name": "day", "price": "0.29"}]
    assert version.grid[0][6] == 1 and version.basic_charge == Decimal("12.50")

    settings_page = user_client.get(reverse("tariffs:settings"), {"tariff": "purchase"}).content.decode()
    assert "night: 0.18 EUR/kWh" in by_testid(settings_page, "price-legend")[0]


def test_the_editor_names_what_is_wrong(user_client: Client, plant: Plant) -> None:
    response = user_client.post(
        reverse("tariffs:edit", args=["feed_in"]),
        {"valid_from": "2026-06-10T00:00", "basic_charge": "0", "grid": "0,1",
         "price_name": ["flat"], "price_value": ["cheap"]},
    )  # fmt: skip
    errors = by_testid(response.content.decode(), "form-errors")[0]
    assert "Working price 1: cheap is not a price" in errors
    assert "7 days of 24 hours" in errors
    assert not TariffVersion.objects.exists()


def test_contract_information_is_saved_from_the_settings_page(user_client: Client, plant: Plant) -> None:
    user_client.post(reverse("tariffs:contract"), {"currency": "GBP", "time_zone": "Europe/London"})
    plant.refresh_from_db()
    assert plant.time_zone == "Europe/London"
    page = user_client.post(reverse("tariffs:contract"), {"currency": "GBP", "time_zone": "Nowhere"}, follow=True)
    assert "Nowhere is not a known time zone" in page.content.decode()


def test_the_tariff_pages_in_german(user_client: Client, plant: Plant) -> None:
    page = user_client.get(reverse("tariffs:overview"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Energiekosten" in page and "Grundgebühr (anteilig)" in page
    page = user_client.get(reverse("tariffs:settings"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Vertragsinformationen" in page and "Dynamische Preise" in page
