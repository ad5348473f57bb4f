"""The fleet's routing (rendezvous hash) and its leases against the suite's Redis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant import beat, fleet
from redisconn import sync_redis

names = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True)
plants = st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=200, unique=True)


@given(names, plants)
def test_every_plant_has_one_owner_whatever_the_order_of_the_workers(workers: list[str], plant_ids: list[int]):
    for plant_id in plant_ids:
        owner = fleet.owner_of(plant_id, workers)
        assert owner in workers
        assert fleet.owner_of(plant_id, reversed(workers)) == owner


@given(names, st.text(min_size=1, max_size=12), plants)
def test_a_worker_joining_takes_only_plants_it_wins(workers: list[str], newcomer: str, plant_ids: list[int]):
    """Nothing moves between the workers that were there already; leaving undoes joining."""
    if newcomer in workers:
        return
    for plant_id in plant_ids:
        before = fleet.owner_of(plant_id, workers)
        after = fleet.owner_of(plant_id, [*workers, newcomer])
        assert after in (before, newcomer)


def test_plants_spread_over_the_workers():
    owners = [fleet.owner_of(plant_id, ["w1@a", "w2@a", "w3@b"]) for plant_id in range(3000)]
    for name in ("w1@a", "w2@a", "w3@b"):
        assert 800 < owners.count(name) < 1200, "about a third each"


@pytest.mark.parametrize(
    ("workers", "queue"),
    [([], "realtime"), (["w1@a"], "realtime.w1@a")],
)
def test_route_without_live_workers_uses_the_shared_queue(workers: list[str], queue: str):
    assert fleet.route([7], workers) == {7: queue}


def test_registry_lists_only_workers_that_announced_themselves():
    fleet.register("w1@a")
    fleet.register("w2@a")
    assert fleet.live_workers() == ["w1@a", "w2@a"]
    sync_redis().delete(fleet._worker_key("w2@a"))  # silent past its TTL
    assert fleet.live_workers() == ["w1@a"]
    fleet.unregister("w1@a")
    assert fleet.live_workers() == []


def test_a_lease_held_by_another_worker_is_not_taken(monkeypatch: pytest.MonkeyPatch):
    assert fleet.acquire(5) and fleet.acquire(5), "taken, then renewed by its holder"
    assert fleet.holder(5) == fleet.owner_id()
    monkeypatch.setattr(fleet, "owner_id", lambda: "elsewhere:1")
    assert not fleet.acquire(5)
    fleet.release(5)  # not the holder's: changes nothing
    assert fleet.holder(5) != "elsewhere:1" and fleet.holder(5) is not None
    monkeypatch.undo()
    fleet.release(5)
    assert fleet.holder(5) is None
    ttl_ms = sync_redis().pttl(fleet.lease_key(6)) if fleet.acquire(6) else 0
    assert 0 < ttl_ms <= fleet.LEASE_TTL_MS


def test_a_member_gives_up_plants_the_hash_gives_another_worker():
    dropped: list[int] = []
    fleet.register("other@b")
    member = fleet.Membership("me@a", running=lambda: [1, 2, 3, 4, 5, 6], drop=dropped.append)
    member.beat()
    others = [p for p in range(1, 7) if fleet.owner_of(p, ["me@a", "other@b"]) == "other@b"]
    assert dropped == others
    assert all(fleet.holder(p) is None for p in others), "released after closing"
    assert all(fleet.holder(p) == fleet.owner_id() for p in range(1, 7) if p not in others)
    assert all(not member.may_drive(p) for p in others)


def test_only_one_beat_leads(monkeypatch: pytest.MonkeyPatch):
    assert beat.is_leader()
    monkeypatch.setattr(fleet, "owner_id", lambda: "second-beat:2")
    assert not beat.is_leader(), "a second beat stands by"


def test_a_member_closes_a_plant_whose_lease_another_worker_holds():
    dropped: list[int] = []
    member = fleet.Membership("me@a", running=lambda: [1, 2], drop=dropped.append)
    sync_redis().set(fleet.lease_key(2), "elsewhere:1", px=fleet.LEASE_TTL_MS)
    member.beat()
    assert dropped == [2], "its device connections closed here"
    assert fleet.holder(2) == "elsewhere:1", "the other worker's lease untouched"
    assert fleet.holder(1) == fleet.owner_id()


def test_a_cycle_lock_of_another_process_counts_as_abandoned_only_to_the_lease_holder():
    from plant.tasks import _lost_lease

    assert not _lost_lease(f"{fleet.owner_id()}:0123abcd"), "a cycle of this process still runs"
    assert _lost_lease("elsewhere:4242:0123abcd"), "another process (host) lost the plant"
    assert _lost_lease(f"{fleet.owner_id()}9:0123abcd".encode()), "another pid on this host"


@given(plants, st.data())
def test_the_fan_out_keeps_each_plants_place_and_puts_a_dropped_one_first(plant_ids: list[int], data: st.DataObject):
    started_ids = data.draw(st.lists(st.sampled_from(plant_ids), unique=True))
    times = data.draw(st.lists(st.floats(0, 1e9), min_size=len(started_ids), max_size=len(started_ids)))
    started = dict(zip(started_ids, times, strict=True))

    order = fleet.order_by_last_start(plant_ids, started)

    assert sorted(order) == sorted(plant_ids), "every plant once"
    never = [p for p in order if p not in started]
    assert order[: len(never)] == never, "a plant whose cycle never began (new, or dropped since) goes first"
    ran = order[len(never) :]
    assert [started[p] for p in ran] == sorted(started[p] for p in ran), "the others in the order their cycles began"


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ({1: 10.0, 2: 10.1, 3: 10.2}, [1, 2, 3]),  # steady: the same order as last second
        ({1: 11.0, 2: 10.1, 3: 10.2}, [2, 3, 1]),  # 1 ran late: the others keep their places
        ({1: 11.0, 3: 11.2}, [2, 1, 3]),  # 2 never began (new): first
        ({1: 10.0, 2: 10.0, 3: 9.0}, [3, 1, 2]),  # 3's last cycle was dropped: first; ties by id
    ],
)
def test_fan_out_order_cases(started: dict[int, float], expected: list[int]):
    assert fleet.order_by_last_start([1, 2, 3], started) == expected


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=30, max_value=600))
def test_plants_taken_at_once_spread_their_settings_backstop_over_half_a_minute(first_id: int, count: int):
    """A worker that takes many plants at once (its start, a rebalance) reloads each one's settings
    every CONFIG_REFRESH_S as a backstop; were they all due in the same second, every cycle of that
    second would wait behind all the loads. At most one more than the even share falls in a second."""
    from plant.worker import CONFIG_REFRESH_S, _backstop_phase_s

    due: dict[int, int] = {}
    for plant_id in range(first_id, first_id + count):
        phase = _backstop_phase_s(plant_id)
        assert 0 <= phase < CONFIG_REFRESH_S / 2
        second = int(CONFIG_REFRESH_S - phase)
        due[second] = due.get(second, 0) + 1
    assert max(due.values()) <= -(-count // int(CONFIG_REFRESH_S / 2)) + 1
