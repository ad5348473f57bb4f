"""Dynamic prices: a CSV file checked line by line, a JSON endpoint fetched over HTTP (TAR-1, beyond the KSEM)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from plant.models import Plant
from tariffs import services
from tariffs.models import DynamicPrice, PriceSource
from tariffs.price_files import PriceFileError, parse_csv, parse_json, to_csv

HEADER = "start,end,price\n"
GOOD = (
    HEADER
    + "2026-03-29T00:00:00+01:00,2026-03-29T01:00:00+01:00,0.2134\n"
    + "2026-03-29T01:00:00+01:00,2026-03-29T03:00:00+02:00,-0.0150\n"  # across the spring clock change: one hour
    + "2026-03-29T03:00:00+02:00,2026-03-29T03:15:00+02:00,0.1\n"
)


def test_a_good_file_gives_its_prices_negative_ones_included() -> None:
    points = parse_csv(GOOD)
    assert [p.price for p in points] == [Decimal("0.2134"), Decimal("-0.0150"), Decimal("0.1")]
    assert points[1].start == dt.datetime(2026, 3, 29, 0, tzinfo=dt.UTC)
    assert parse_csv(to_csv(points)) == points


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("when,price\n2026-01-01T00:00+00:00,0.1\n", 1, "header must be start,end,price"),
        (HEADER + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00\n", 2, "expected 3 columns"),
        (HEADER + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,0.1,x\n", 2, "expected 3 columns"),
        (
            HEADER
            + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,0.1\n2026-01-01T01:00+00:00,2026-01-01T02:00+00:00,abc\n",
            3,
            "not a number",
        ),
        (HEADER + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,0,29\n", 2, "expected 3 columns"),
        (HEADER + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,NaN\n", 2, "not a plausible price"),
        (
            HEADER
            + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,0.1\n2026-01-01T00:30+00:00,2026-01-01T00:45+00:00,0.1\n",
            3,
            "overlaps",
        ),
        (
            HEADER
            + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,0.1\n2026-01-01T02:00+00:00,2026-01-01T03:00+00:00,0.1\n",
            3,
            "hours missing",
        ),
        (HEADER + "2026-01-01 00:00,2026-01-01 01:00,0.1\n", 2, "no UTC offset"),
        (HEADER + "yesterday,2026-01-01T01:00+00:00,0.1\n", 2, "not a time"),
        (HEADER + "2026-01-01T00:00+00:00,2026-01-01T00:20+00:00,0.1\n", 2, "quarter hour or an hour"),
        (HEADER + "2026-01-01T00:10+00:00,2026-01-01T01:10+00:00,0.1\n", 2, "full quarter hour"),
        (HEADER, 0, "no prices"),
        ("", 0, "empty"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PriceFileError, match=message) as error:
        parse_csv(text)
    assert error.value.line == line
    if line:
        assert str(error.value).startswith(f"line {line}: ")


def test_json_follows_the_same_rules() -> None:
    data = {"prices": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "price": -0.01}]}
    assert parse_json(json.dumps(data))[0].price == Decimal("-0.01")
    with pytest.raises(PriceFileError, match="line 1: each price needs"):
        parse_json({"prices": [{"start": "2026-01-01T00:00:00Z"}]})
    with pytest.raises(PriceFileError, match="not JSON"):
        parse_json("<html>")


# ---- pages and API ------------------------------------------------------------------------------


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def stored(plant: Plant) -> list[tuple[dt.datetime, Decimal]]:
    return list(DynamicPrice.objects.filter(plant=plant).order_by("start").values_list("start", "price"))


def upload(client: Client, plant: Plant, text: str) -> tuple[int, dict]:
    url = reverse("api-plant-tariff-prices", args=[plant.pk, "purchase"])
    response = client.post(url, {"file": SimpleUploadedFile("prices.csv", text.encode(), "text/csv")})
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("2026-03-30T00:00:00+02:00,2026-03-30T01:00:00+02:00,0.1,extra", "line 3: expected 3 columns"),
        ("2026-03-30T00:00:00+02:00,2026-03-30T01:00:00+02:00,zero", "line 3: price 'zero' is not a number"),
        ("2026-03-30T00:30:00+02:00,2026-03-30T00:45:00+02:00,0.1", "line 3: overlaps"),
        ("2026-03-30T02:00:00+02:00,2026-03-30T03:00:00+02:00,0.1", "line 3: hours missing"),
    ],
)
def test_a_refused_file_changes_nothing(user_client: Client, plant: Plant, bad_line: str, message: str) -> None:
    assert upload(user_client, plant, GOOD)[0] == 201
    before = stored(plant)

    status, body = upload(
        user_client, plant, HEADER + "2026-03-30T00:00:00+02:00,2026-03-30T01:00:00+02:00,0.3\n" + bad_line + "\n"
    )

    assert status == 400
    assert body["file"][0].startswith(message)
    assert body["line"] == 3
    assert stored(plant) == before


def test_the_settings_page_imports_a_file_or_says_why_not(user_client: Client, plant: Plant) -> None:
    url = reverse("tariffs:import-prices", args=["feed_in"])
    bad = SimpleUploadedFile("p.csv", (HEADER + "2026-01-01T00:00+00:00,2026-01-01T01:00+00:00,x\n").encode())
    page = user_client.post(url, {"file": bad}, follow=True).content.decode()
    assert "line 2: price" in page and "nothing was imported" in page
    assert not DynamicPrice.objects.exists()

    page = user_client.post(url, {"file": SimpleUploadedFile("p.csv", GOOD.encode())}, follow=True).content.decode()
    assert "3 prices imported" in page
    assert DynamicPrice.objects.filter(direction="feed_in").count() == 3


def test_a_new_file_replaces_the_prices_of_the_time_it_covers(plant: Plant) -> None:
    services.store_prices(plant, "purchase", parse_csv(GOOD))
    services.store_prices(
        plant, "purchase", parse_csv(HEADER + "2026-03-29T01:00:00+01:00,2026-03-29T03:00:00+02:00,0.5\n")
    )
    assert [p for _, p in stored(plant)] == [Decimal("0.2134"), Decimal("0.5"), Decimal("0.1")]


class PriceHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def price_server() -> Iterator[tuple[str, type[PriceHandler]]]:
    handler = type("Handler", (PriceHandler,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prices", handler
    finally:
        server.shutdown()
        server.server_close()


def test_prices_are_fetched_from_an_http_endpoint(user_client: Client, plant: Plant, price_server) -> None:
    url, handler = price_server
    handler.body = json.dumps(
        {
            "prices": [
                {
                    "start": f"2026-06-08T{h:02d}:00:00+02:00",
                    "end": f"2026-06-08T{h + 1:02d}:00:00+02:00",
                    "price": f"0.{10 + h}",
                }
                for h in range(0, 23)
            ]
        }
    ).encode()
    api = reverse("api-plant-tariff-source", args=[plant.pk, "purchase"])

    assert user_client.put(api, {"url": url, "enabled": True}, content_type="application/json").status_code == 200
    answer = user_client.post(api).json()

    assert answer["stored"] == 23 and answer["last_error"] == ""
    assert stored(plant)[0] == (dt.datetime(2026, 6, 7, 22, tzinfo=dt.UTC), Decimal("0.10"))


def test_a_failing_endpoint_keeps_the_prices_and_says_why(plant: Plant, price_server) -> None:
    url, handler = price_server
    services.store_prices(plant, "purchase", parse_csv(GOOD))
    source = PriceSource.objects.create(plant=plant, direction="purchase", url=url)
    handler.body = (
        b'{"prices": [{"start": "2026-03-29T00:00:00+01:00", "end": "2026-03-29T01:00:00+01:00", "price": "cheap"}]}'
    )

    assert services.fetch_prices(source) == 0
    assert "line 1: price 'cheap' is not a number" in source.last_error
    assert len(stored(plant)) == 3

    handler.status = 500
    assert services.fetch_prices(source) == 0
    assert "500" in source.last_error

    from tariffs.tasks import fetch_dynamic_prices

    source.url = "http://127.0.0.1:9/closed"  # nothing listens on the discard port
    source.save()
    assert fetch_dynamic_prices.run() == 0
    source.refresh_from_db()
    assert source.last_error
