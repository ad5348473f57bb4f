"""The installer's plant list with 500 plants (issue 18.3): ``/plants/`` and ``/api/v1/plants/status``
as a logged-in installer of all of them, each plant with a live snapshot in Redis (every 10th
without one, every 7th with its meter offline). 20 requests each of the first page, a status
filter (which reads every plant's snapshot, one ``MGET``) and a search; p50/p99 in ms.
Target: p99 <= 500 ms for 500 plants.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from bench.common import django_env, summary, write_result

PLANTS = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--plants", type=int, default=PLANTS)
    args = parser.parse_args()
    with django_env("plant-list"):
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        import redisconn
        from energy import snapshot
        from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
        from meter.models import Meter
        from plant.models import Plant
        from portal.models import Membership
        from redisconn.snapshots import state_key

        plants = Plant.objects.bulk_create(
            Plant(name=f"Hof {n:04d}", serial_number=f"KSEM-{n:010d}") for n in range(args.plants)
        )
        Meter.objects.bulk_create(Meter(plant=p, host=f"10.2.{n // 250}.{n % 250 + 1}") for n, p in enumerate(plants))
        user = get_user_model().objects.create_user("installer", password="Bench-Pass-1")
        Membership.objects.bulk_create(Membership(user=user, plant=p, role="installer") for p in plants)
        now = timezone.now() + dt.timedelta(hours=1)  # fresh for the whole run
        store = redisconn.sync_redis()
        for n, plant in enumerate(plants):
            if n % 10 == 9:
                continue
            online = n % 7 != 6
            state = PlantState(
                plant_id=plant.pk, timestamp=now, sequence=1, meter=None,
                meter_status=DeviceStatus(name="meter", online=online, error="" if online else "timeout"),
                flow=EnergyFlow(grid_power_w=1200.0, pv_power_w=3000.0, battery_power_w=None, battery_soc_pct=None,
                                house_power_w=4200.0, wallbox_power_w=0.0),
                totals=EnergyCounters(),
                devices=tuple(DeviceStatus(name=f"Inverter {k}", online=True) for k in range(2)),
            )  # fmt: skip
            store.set(state_key(plant.pk), json.dumps(snapshot.to_data(state)))
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        urls = {
            "page_first": "/plants/",
            "page_status_error": "/plants/?status=error",
            "page_search": "/plants/?q=Hof+02",
            "api_first": "/api/v1/plants/status",
            "api_status_ok_page_5": "/api/v1/plants/status?status=ok&page=5",
        }
        timings = {}
        for name, url in urls.items():
            assert client.get(url).status_code == 200, url
            durations = []
            for _ in range(args.requests):
                began = time.perf_counter()
                response = client.get(url)
                durations.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, url
            timings[name] = summary(durations)
        count = client.get("/api/v1/plants/status?status=error").json()["count"]
        for key in (state_key(p.pk) for p in plants):
            store.delete(key)
    write_result(
        "plant_list",
        {"plants": args.plants, "plants_in_error": count, "ms": timings},
        {"p99_ms": 500},
    )


if __name__ == "__main__":
    main()
