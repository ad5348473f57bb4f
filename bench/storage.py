"""Storage per plant (issue 18.4) on PostgreSQL: bytes per plant per day of every per-plant time
series, what 500 plants need after a year and at steady state, and the history queries timed
with a year of rows for a few plants.

1. **Bytes per plant per day.** 20 plants, 14 simulated days, rows written in time order across
   the plants as the workers write them: the 5-minute log (288 a day), the energy totals every
   5 minutes (288), the hourly energy (24), 20 events a day and a day of quarter-hour dynamic
   prices (96, only plants with a dynamic tariff). After ``VACUUM ANALYZE`` the growth of
   ``pg_total_relation_size`` (table, indexes, TOAST) per table, divided by plants x days.
2. **500 plants.** Those figures times the days each table keeps (docs/operations.md), after one
   year and at steady state.
3. **Queries.** 5 plants with a year of energy totals (105,120 rows each), a year of hours, 14
   days of the 5-minute log (all it keeps) and a year of events (7,300 each), no dynamic tariff,
   among the 20 plants of step 1:
   each history request 20 times through Django (a logged-in installer), p50/p99 in ms, and
   the plan PostgreSQL chooses for each table's query (``EXPLAIN``).
4. **Retention.** One day past the 14 days for every plant: the purge job's time, and the
   longest single batch (what the cycle's write could wait for at most).

Needs PostgreSQL: ``DATABASE_URL`` names the server (default postgres://postgres@127.0.0.1:5432);
the benchmark makes its own database ``ksem_bench_storage`` there and drops it at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import summary, write_result

DB_NAME = "ksem_bench_storage"
PLANTS = 20
DAYS = 14
QUERY_PLANTS = 5
EVENTS_PER_DAY = 20
FLEET = 500
# Days each table keeps (settings.METER_LOG_RETENTION_DAYS, ENERGY_LOG_RETENTION_DAYS,
# tariffs.services.HISTORY_RETENTION, events.services.MAX_AGE).
KEPT_DAYS = {
    "meter_meterlog": 14,
    "meter_energyrecord": 733,
    "tariffs_energyhour": 763,
    "events_event": 365,
    "tariffs_dynamicprice": 763,
}
TABLES = tuple(KEPT_DAYS)


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(with_database(server_url(), "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def sizes(cursor: Any) -> dict[str, int]:
    found = {}
    for table in TABLES:
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        found[table] = int(cursor.fetchone()[0])
    return found


def index_sizes(cursor: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for table in TABLES:
        cursor.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes WHERE relname = %s", [table]
        )
        found[table] = {name: int(size) for name, size in cursor.fetchall()}
    return found


ALL = frozenset({"log", "records", "hours", "events", "prices"})


def fill(cursor: Any, plant_ids: list[int], start: dt.datetime, end: dt.datetime, tables: frozenset[str] = ALL) -> None:
    """Rows of ``plant_ids`` from ``start`` to ``end`` in ``tables``, in time order across the
    plants (as the workers write them), with values that vary like measurements."""
    args = {"plants": plant_ids, "start": start, "end": end}
    if "log" in tables:
        cursor.execute(
            """INSERT INTO meter_meterlog (plant_id, start, samples, gap, grid_power_w, grid_power_min_w, grid_power_max_w,
                 reactive_power_var, apparent_power_va, frequency_hz, power_l1_w, power_l2_w, power_l3_w, voltage_l1_v,
                 voltage_l2_v, voltage_l3_v, current_l1_a, current_l2_a, current_l3_a, pv_power_w, battery_power_w,
                 battery_soc_pct, house_power_w, wallbox_power_w)
               SELECT p, t, 300, false, random()*5000-2500, random()*-3000, random()*6000, random()*500, random()*6000,
                 49.95+random()*0.1, random()*2000, random()*2000, random()*2000, 228+random()*4, 228+random()*4,
                 228+random()*4, random()*9, random()*9, random()*9, random()*8000, random()*6000-3000, random()*100,
                 random()*3000, random()*11000
               FROM generate_series(%(start)s, %(end)s - interval '5 minutes', interval '5 minutes') t,
                    unnest(%(plants)s::bigint[]) p ORDER BY t, p""",
            args,
        )
    if "records" in tables:
        cursor.execute(
            """INSERT INTO meter_energyrecord (plant_id, time, active_import_wh, active_export_wh, reactive_import_varh,
                 reactive_export_varh, apparent_import_vah, apparent_export_vah)
               SELECT p, t, extract(epoch from t - %(start)s)*0.3 + p*1e6, extract(epoch from t - %(start)s)*0.2,
                 extract(epoch from t - %(start)s)*0.01, extract(epoch from t - %(start)s)*0.01,
                 extract(epoch from t - %(start)s)*0.31, extract(epoch from t - %(start)s)*0.21
               FROM generate_series(%(start)s + interval '5 minutes', %(end)s, interval '5 minutes') t,
                    unnest(%(plants)s::bigint[]) p ORDER BY t, p""",
            args,
        )
    if "hours" in tables:
        cursor.execute(
            """INSERT INTO tariffs_energyhour (plant_id, start, purchase_mwh, feed_in_mwh, pv_mwh, house_mwh,
                 battery_charge_mwh, battery_discharge_mwh, wallbox_mwh, gap)
               SELECT p, t, (random()*2e6)::bigint, (random()*4e6)::bigint, (random()*6e6)::bigint,
                 (random()*2e6)::bigint, (random()*1e6)::bigint, (random()*1e6)::bigint, (random()*3e6)::bigint, false
               FROM generate_series(%(start)s, %(end)s - interval '1 hour', interval '1 hour') t,
                    unnest(%(plants)s::bigint[]) p ORDER BY t, p""",
            args,
        )
    if "events" in tables:
        cursor.execute(
            """INSERT INTO events_event (time, plant_id, kind, severity, source, message, key, mail_state, mail_error)
               SELECT t + (random()*interval '60 minutes'), p, 'device_offline', 'warning', 'cycle',
                 'Inverter ' || (p %% 3) || ' offline: timeout after 1.0 s (no answer from 192.168.1.' || (p %% 250) || ')',
                 'offline:' || p || ':inverter:' || extract(epoch from t)::bigint, '', ''
               FROM generate_series(%(start)s, %(end)s - interval '1 minute', interval '72 minutes') t,
                    unnest(%(plants)s::bigint[]) p ORDER BY t, p""",
            args,
        )
    if "prices" in tables:
        cursor.execute(
            """INSERT INTO tariffs_dynamicprice (plant_id, direction, start, "end", price, source)
               SELECT p, 'purchase', t, t + interval '15 minutes', round((random()*0.4)::numeric, 6), 'http'
               FROM generate_series(%(start)s, %(end)s - interval '15 minutes', interval '15 minutes') t,
                    unnest(%(plants)s::bigint[]) p ORDER BY t, p""",
            args,
        )


def timed(client: Any, url: str, runs: int) -> dict[str, float]:
    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        durations.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return summary(durations)


def plan(cursor: Any, sql: str, args: list[Any]) -> str:
    cursor.execute("EXPLAIN (FORMAT JSON) " + sql, args)
    root = cursor.fetchone()[0][0]["Plan"]
    nodes = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(f"{node['Node Type']}" + (f" on {node['Index Name']}" if "Index Name" in node else ""))
        for child in node.get("Plans", []):
            walk(child)

    walk(root)
    return " > ".join(nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not server_url().startswith("postgres"):
        raise SystemExit("bench/storage.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = with_database(server_url(), DB_NAME)
    load_before = os.getloadavg()
    try:
        figures = measure(args.runs)
        figures["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {DB_NAME}")
    write_result(
        "storage",
        figures,
        {"bytes_per_plant_per_day": "measured (no target)", "history_query_p99_ms": 200, "purge_batch_max_ms": 100},
    )


def measure(runs: int) -> dict[str, Any]:
    from bench.common import django_env

    with django_env("storage"):
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from meter import services as meter_services
        from plant.models import Plant

        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        plants = [Plant.objects.create(name=f"Hof {n:03d}") for n in range(PLANTS)]
        ids = [p.pk for p in plants]
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            empty = sizes(cursor)
            fill(cursor, ids, now - dt.timedelta(days=DAYS), now)
            cursor.execute("VACUUM ANALYZE")
            full = sizes(cursor)
            per_day = {t: round((full[t] - empty[t]) / (PLANTS * DAYS)) for t in TABLES}
            indexes = index_sizes(cursor)
            rows = {}
            for table in TABLES:
                cursor.execute(f"SELECT count(*) FROM {table}")
                rows[table] = int(cursor.fetchone()[0])
        # Dynamic prices only where a plant has a dynamic tariff; the rest of the fleet has none.
        core = sum(v for t, v in per_day.items() if t != "tariffs_dynamicprice")
        year = {t: per_day[t] * min(365, KEPT_DAYS[t]) * FLEET for t in TABLES}
        steady = {t: per_day[t] * KEPT_DAYS[t] * FLEET for t in TABLES}
        without_prices = [t for t in TABLES if t != "tariffs_dynamicprice"]

        # A year for a few plants: the history queries.
        with connection.cursor() as cursor:
            # The 5-minute log keeps 14 days whatever the age of the plant; no dynamic tariff here.
            fill(
                cursor,
                ids[:QUERY_PLANTS],
                now - dt.timedelta(days=365),
                now - dt.timedelta(days=DAYS),
                frozenset({"records", "hours"}),
            )
            cursor.execute(
                """INSERT INTO events_event (time, plant_id, kind, severity, source, message, key, mail_state, mail_error)
                   SELECT t, p, 'device_online', 'info', 'cycle', 'Inverter back online after 12 s', '', '', ''
                   FROM generate_series(%s, %s, interval '72 minutes') t, unnest(%s::bigint[]) p ORDER BY t, p""",
                [now - dt.timedelta(days=365), now - dt.timedelta(days=DAYS), ids[:QUERY_PLANTS]],
            )
            cursor.execute("VACUUM ANALYZE")
            table_rows = {}
            for table in TABLES:
                cursor.execute(f"SELECT count(*) FROM {table}")
                table_rows[table] = int(cursor.fetchone()[0])
            pid = ids[0]
            plans = {
                "meter_log_24h": plan(
                    cursor,
                    "SELECT * FROM meter_meterlog WHERE plant_id = %s AND start >= %s ORDER BY start",
                    [pid, now - dt.timedelta(hours=24)],
                ),
                "energy_records_7d": plan(
                    cursor,
                    "SELECT * FROM meter_energyrecord WHERE plant_id = %s AND time >= %s ORDER BY time",
                    [pid, now - dt.timedelta(days=7)],
                ),
                "energy_hours_year": plan(
                    cursor,
                    "SELECT * FROM tariffs_energyhour WHERE plant_id = %s AND start >= %s AND start < %s",
                    [pid, now - dt.timedelta(days=365), now],
                ),
                "events_page": plan(
                    cursor, "SELECT * FROM events_event WHERE plant_id = %s ORDER BY time DESC, id DESC LIMIT 50", [pid]
                ),
                "purge_meter_log": plan(
                    cursor,
                    "SELECT id FROM meter_meterlog WHERE plant_id = %s AND start < %s LIMIT 1000",
                    [pid, now - dt.timedelta(days=14)],
                ),
            }
        user = get_user_model().objects.create_superuser("bench", password="Bench-Pass-1")
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        queries = {
            "history_24h": f"/api/v1/plants/{pid}/history?hours=24",
            "history_14d": f"/api/v1/plants/{pid}/history?hours=336",
            "energy_7d": f"/api/v1/plants/{pid}/energy?days=7",
            "energy_365d_csv": f"/api/v1/plants/{pid}/energy?days=365&format=csv",
            "costs_year": f"/api/v1/plants/{pid}/costs/?period=year",
            "costs_month": f"/api/v1/plants/{pid}/costs/?period=month",
            "events_page": f"/events/?plant={pid}",
        }
        timings = {}
        for name, url in queries.items():
            client.get(url)  # warm
            timings[name] = timed(client, url, runs if "365d" not in name else max(3, runs // 4))

        # Retention: one day past the 14 days for each of the 20 plants, purged by the job.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM meter_meterlog WHERE start < %s", [now - dt.timedelta(days=DAYS)])
            fill(cursor, ids, now - dt.timedelta(days=DAYS + 1), now - dt.timedelta(days=DAYS), frozenset({"log"}))
            cursor.execute("VACUUM ANALYZE meter_meterlog")
        from events import retention

        batch_ms: list[float] = []
        original = retention.delete_in_batches

        def timing(rows: Any, batch: int = retention.BATCH) -> int:
            began = time.perf_counter()
            removed = original(rows, batch)
            batch_ms.append((time.perf_counter() - began) * 1000 / max(1, -(-removed // batch)))
            return removed

        retention.delete_in_batches = timing
        began = time.perf_counter()
        purged = meter_services.purge_old_logs(now)[0]
        purge_s = time.perf_counter() - began
        retention.delete_in_batches = original

    return {
        "setup": {
            "plants": PLANTS,
            "days": DAYS,
            "events_per_plant_day": EVENTS_PER_DAY,
            "query_plants": QUERY_PLANTS,
            "rows_after_step_1": rows,
            "rows_for_queries": table_rows,
        },
        "bytes_per_plant_per_day": per_day,
        "bytes_per_plant_per_day_total": core,
        "bytes_per_plant_per_day_with_dynamic_prices": core + per_day["tariffs_dynamicprice"],
        "index_bytes_after_step_1": indexes,
        "fleet_500_after_one_year_gb": round(sum(year[t] for t in without_prices) / 1e9, 2),
        "fleet_500_steady_state_gb": round(sum(steady[t] for t in without_prices) / 1e9, 2),
        "fleet_500_steady_state_gb_by_table": {t: round(steady[t] / 1e9, 2) for t in TABLES},
        "query_ms": timings,
        "plans": plans,
        "purge": {
            "rows": purged,
            "seconds": round(purge_s, 3),
            "batch_ms": summary(batch_ms) if batch_ms else {},
        },
    }


if __name__ == "__main__":
    main()
