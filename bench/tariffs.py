"""Cost views over two years of hourly history: the year view and a month view through the API.

One plant with two years of hourly energy (17,520 hours), a day/night tariff that changes once,
and a month of quarter-hour dynamic prices inside the measured month (so the price split runs).
50 requests each of ``GET /api/plants/{id}/costs/?period=year`` and ``?period=month``, through
Django, DRF and the database, as a logged-in browser session would send them.
Target: p99 <= 200 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

from bench.common import django_env, percentile, summary, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with django_env("tariffs"):
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from plant.models import Plant
        from tariffs import services
        from tariffs.models import EnergyHour
        from tariffs.price_files import PricePoint
        from tariffs.pricing import HOUR, local_midnight

        plant = Plant.objects.create(name="bench", time_zone="Europe/Berlin")
        tz = services.zone(plant)
        start = local_midnight(dt.date(2025, 1, 1), tz)
        end = local_midnight(dt.date(2027, 1, 1), tz)
        rows, moment, n = [], start, 0
        while moment < end:
            rows.append(EnergyHour(plant=plant, start=moment, purchase_mwh=300_000 + (n * 7919) % 900_000,
                                   feed_in_mwh=(n * 104_729) % 2_000_000, gap=n % 997 == 0))  # fmt: skip
            moment += HOUR
            n += 1
        EnergyHour.objects.bulk_create(rows, batch_size=5000)
        grid = [[0] * 6 + [1] * 16 + [0] * 2 for _ in range(7)]
        for valid_from, day, night in (
            (start, "0.29", "0.18"),
            (local_midnight(dt.date(2026, 7, 1), tz), "0.33", "0.21"),
        ):
            services.save_version(plant, "purchase", valid_from=valid_from, basic_charge=Decimal("12.50"),
                                  names=["night", "day"], prices=[Decimal(night), Decimal(day)], grid=grid)  # fmt: skip
        quarter = dt.timedelta(minutes=15)
        first = local_midnight(dt.date(2026, 3, 1), tz)
        points = [
            PricePoint(first + k * quarter, first + (k + 1) * quarter, Decimal(k % 40 - 5) / 100)
            for k in range(31 * 96 - 4)
        ]
        services.store_prices(plant, "purchase", points)

        client = Client(SERVER_NAME="localhost")
        client.force_login(get_user_model().objects.create_user("bench", password="Bench-Pass-1"))
        url = reverse("api-plant-costs", args=[plant.pk])
        views = {"year": {"period": "year", "date": "2026-06-15"}, "month": {"period": "month", "date": "2026-03-15"}}
        timings: dict[str, list[float]] = {}
        answers = {}
        for name, params in views.items():
            client.get(url, params)  # warm up
            timings[name] = []
            for _ in range(args.requests):
                begin = time.perf_counter()
                response = client.get(url, params)
                timings[name].append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, response.content
            answers[name] = response.json()
        everything = timings["year"] + timings["month"]
        write_result(
            "tariffs",
            {
                "history_hours": len(rows),
                "requests_per_view": args.requests,
                "p50_ms": round(percentile(everything, 50), 3),
                "p99_ms": round(percentile(everything, 99), 3),
                "year_ms": summary(timings["year"]),
                "month_ms": summary(timings["month"]),
                "year_buckets": len(answers["year"]["buckets"]),
                "year_cost": answers["year"]["cost"],
                "month_buckets": len(answers["month"]["buckets"]),
                "month_cost": answers["month"]["cost"],
            },
            {"p99_ms": 200},
        )


if __name__ == "__main__":
    main()
