"""Beat's tick fans out one cycle per active plant, each expiring within one interval."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.db import OperationalError

import redisconn
from plant import live, services, tasks
from plant.models import Plant
from plant.tasks import tick

pytestmark = pytest.mark.django_db


def queued_cycles() -> list[dict]:
    """The run_cycle messages waiting in the real broker's realtime queue."""
    raw = redisconn.sync_redis().lrange(f"{settings.REDIS_KEY_PREFIX}:celery:realtime", 0, -1)
    headers = [json.loads(message)["headers"] for message in raw]
    return [h for h in headers if h["task"] == "plant.tasks.run_cycle"]


def test_tick_sends_one_expiring_cycle_per_active_plant():
    home = Plant.objects.create(name="Home")
    shop = Plant.objects.create(name="Shop")
    Plant.objects.create(name="Switched off", is_active=False)
    sent_at = dt.datetime.now(dt.UTC)

    assert tick.run() == 2

    cycles = queued_cycles()
    assert sorted(c["argsrepr"] for c in cycles) == sorted([f"({home.pk},)", f"({shop.pk},)"])
    for cycle in cycles:
        expires = dt.datetime.fromisoformat(cycle["expires"])
        assert dt.timedelta(0) < expires - sent_at <= dt.timedelta(seconds=settings.CYCLE_INTERVAL_S + 0.5)
    age = live.last_tick_age_s()
    assert age is not None
    assert age < 1, "health sees the tick"


def test_a_worker_just_started_cycles_the_plants_while_the_database_is_down(monkeypatch: pytest.MonkeyPatch):
    home = Plant.objects.create(name="Home")
    shop = Plant.objects.create(name="Shop")
    assert tick.run() == 2  # a worker that read them while the database answered
    redisconn.sync_redis().delete(f"{settings.REDIS_KEY_PREFIX}:celery:realtime")

    # The next tick lands on a worker that has not read them yet, and the database is down.
    monkeypatch.setattr(tasks, "_known_plant_ids", [])
    monkeypatch.setattr(tasks, "_database_down", False)

    def down() -> list[int]:
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "active_plant_ids", down)
    assert tick.run() == 2
    assert sorted(c["argsrepr"] for c in queued_cycles()) == sorted([f"({home.pk},)", f"({shop.pk},)"])


def test_each_plant_keeps_its_place_in_the_fan_out_and_a_dropped_cycle_goes_first():
    """Sent in the order the plants' last cycles began: a plant's cycles stay a second apart however
    long the fan-out takes (no plant jumps from first to last), and a plant whose cycle did not
    begin (its task expired) leads the next fan-out."""
    from plant import fleet

    client = redisconn.sync_redis()
    first, second, third = (Plant.objects.create(name=name).pk for name in ("A", "B", "C"))

    def begin(plant_id: int) -> None:
        lock = live.lock_key(plant_id)
        reply = fleet.begin_cycle(plant_id, lock, "token", 5000, [], client)
        assert reply[0] == fleet.BEGUN
        client.delete(lock, fleet.lease_key(plant_id))

    def sent() -> list[str]:
        order = [c["argsrepr"] for c in reversed(queued_cycles())]  # LPUSH: the first sent is last
        client.delete(f"{settings.REDIS_KEY_PREFIX}:celery:realtime")
        return order

    for plant_id in (third, first, second):
        begin(plant_id)
    for _ in range(3):
        assert tick.run() == 3
        assert sent() == [f"({third},)", f"({first},)", f"({second},)"]

    for plant_id in (first, second):  # third's cycle was dropped this time
        begin(plant_id)
    assert tick.run() == 3
    assert sent() == [f"({third},)", f"({first},)", f"({second},)"]
    begin(third)
    begin(first)  # second's cycle was dropped
    tick.run()
    assert sent() == [f"({second},)", f"({third},)", f"({first},)"]


def test_tick_without_plants_still_marks_beat_alive():
    assert tick.run() == 0
    assert queued_cycles() == []
    assert live.last_tick_age_s() is not None


def test_a_cycle_lock_outlives_the_slowest_possible_cycle():
    """Otherwise a slow meter could let the lock expire while its cycle still runs, and cycles overlap."""
    from energy.config import MAX_TIMEOUT_S
    from meter.drivers.ksem_tcp import READ_DEADLINE_TIMEOUTS
    from plant.tasks import LOCK_TTL_S
    from plant.worker import CYCLE_TIMEOUT_S

    assert READ_DEADLINE_TIMEOUTS * MAX_TIMEOUT_S < CYCLE_TIMEOUT_S < LOCK_TTL_S
