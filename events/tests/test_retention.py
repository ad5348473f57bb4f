"""Retention that stays small with many plants (issue 18.4): old rows go plant by plant in small
batches, and one plant's flood of events never pushes out another plant's events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import retention, services
from events.models import BACKUP_RESULT, DEVICE_OFFLINE, Event
from meter.models import MeterLog
from plant.models import Plant
from tariffs.models import DynamicPrice, EnergyHour

pytestmark = pytest.mark.django_db


def deletes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]


@pytest.mark.parametrize(("old", "batch", "statements"), [(0, 1000, 0), (1, 1000, 1), (999, 1000, 1), (2500, 1000, 3),
                                                          (2000, 1000, 2), (30, 7, 5)])  # fmt: skip
def test_old_rows_go_in_batches_and_the_rest_stays(old: int, batch: int, statements: int) -> None:
    plants = [Plant.objects.create(name=f"Hof {n}") for n in range(2)]
    now = timezone.now().replace(microsecond=0)
    first = now - dt.timedelta(days=30)
    MeterLog.objects.bulk_create(
        MeterLog(plant=plants[0], start=first + dt.timedelta(minutes=5 * n), samples=1) for n in range(old)
    )
    recent = [MeterLog.objects.create(plant=p, start=now - dt.timedelta(hours=1), samples=1) for p in plants]
    with CaptureQueriesContext(connection) as queries:
        removed = retention.purge_older_than(MeterLog, "start", now - dt.timedelta(days=14), [p.pk for p in plants],
                                             batch)  # fmt: skip
    assert removed == old
    assert len(deletes(queries)) == statements
    assert sorted(MeterLog.objects.values_list("pk", flat=True)) == sorted(r.pk for r in recent)


def test_one_plants_flood_of_events_leaves_the_other_plants_events(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(services, "MAX_EVENTS", 5)
    monkeypatch.setattr(services, "PRUNE_EVERY", 1)
    noisy, quiet = Plant.objects.create(name="Noisy"), Plant.objects.create(name="Quiet")
    now = timezone.now()
    for n in range(3):
        services.record(DEVICE_OFFLINE, f"quiet {n}", plant=quiet, at=now - dt.timedelta(days=2, minutes=n))
    for n in range(40):
        with django_capture_on_commit_callbacks(execute=True):  # the prune runs after the event's commit
            services.record(DEVICE_OFFLINE, f"noisy {n}", plant=noisy, at=now - dt.timedelta(minutes=40 - n))
    assert list(Event.objects.filter(plant=noisy).order_by("time").values_list("message", flat=True)) == [
        f"noisy {n}" for n in range(35, 40)
    ]
    assert Event.objects.filter(plant=quiet).count() == 3, "the quiet plant keeps its (older) events"


def test_the_hourly_job_drops_events_older_than_a_year_for_every_plant_and_the_device() -> None:
    from events.tasks import purge_old_events

    plants = [Plant.objects.create(name=f"Hof {n}") for n in range(3)]
    now = timezone.now()
    for owner in [*plants, None]:
        for age in (400, 366, 364, 1):
            services.record(BACKUP_RESULT, f"{age}", plant=owner, at=now - dt.timedelta(days=age))
    assert purge_old_events.run() == 8
    assert sorted(Event.objects.values_list("message", flat=True)) == sorted(["364", "1"] * 4)


def test_hours_and_dynamic_prices_older_than_kept_go_for_every_plant() -> None:
    from tariffs import services as tariffs

    plants = [Plant.objects.create(name=f"Hof {n}") for n in range(3)]
    now = timezone.now()
    for plant in plants:
        for age_days in (10, 2 * 366 + 40):
            start = now - dt.timedelta(days=age_days)
            EnergyHour.objects.create(plant=plant, start=start, purchase_mwh=1, feed_in_mwh=0)
            DynamicPrice.objects.create(plant=plant, direction="purchase", start=start,
                                        end=start + dt.timedelta(hours=1), price=1)  # fmt: skip
    assert tariffs.purge_history(now) == 6
    assert EnergyHour.objects.count() == DynamicPrice.objects.count() == 3


def test_beat_runs_every_retention_job_on_the_default_queue(settings: Any) -> None:
    from ksem_site.celery import app

    schedule = app.conf.beat_schedule
    for name, task in [("purge old meter logs", "meter.tasks.purge_old_logs"),
                       ("purge old events", "events.tasks.purge_old_events")]:  # fmt: skip
        assert schedule[name]["task"] == task
        assert schedule[name]["options"]["queue"] == "default"
    assert schedule["tariffs purge history"]["task"] == "tariffs.tasks.purge_history"
    assert (schedule["tariffs purge history"]["options"] or {}).get("queue", "default") == "default"
