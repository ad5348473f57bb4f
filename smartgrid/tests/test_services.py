"""The stored limit store: events persist the state machine's facts and the history, a restart
keeps a limit in force as init with failsafe values, the ring never grows past its size, and
the EEBus backend answers as the SPINE layer expects."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from energy import gridlimit as g
from energy import gridlimit_history as gh
from plant.config import load_config
from plant.cycle import with_grid_limits
from plant.models import Plant
from smartgrid import backend, services
from smartgrid.models import GridLimitEntry, GridLimits

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def controlled(plant: Plant) -> None:
    services.set_enabled(plant.pk, True, now=at(0))


def test_defaults_are_the_specs(plant: Plant) -> None:
    row = services.settings_of(plant.pk)
    assert (row.enabled, row.failsafe_consumption_w, row.failsafe_production_w, row.failsafe_duration_s) == (
        False,
        10_000.0,
        10_000.0,
        7200.0,
    )
    # Not controlled: no limits in the cycle, no state.
    assert services.status(plant.pk) is None
    assert load_config(plant.pk).grid_limit_facts is None


def test_a_limit_written_and_ending_leaves_two_history_entries(plant: Plant) -> None:
    controlled(plant)
    services.heartbeat(plant.pk, peer_ski="ab" * 20, counter=1, now=at(5))
    services.write_limit(plant.pk, g.CONSUME, active=True, value_w=4200.0, duration_s=900.0, now=at(10))
    status = services.status(plant.pk, at(11))
    assert status is not None and (status.consume.state, status.lpc_w) == (g.LIMITED, 4200.0)
    # The cycle sees the same limit from the stored facts.
    config, grid = with_grid_limits(load_config(plant.pk), at(11))
    assert config.grid_limits.lpc_w == 4200.0 and grid is not None
    # Keep the heartbeat, let the limit run out: the worker's settle records the end.
    for second in range(60, 1000, 60):
        services.heartbeat(plant.pk, now=at(second))
    services.settle(plant.pk, at(1000))
    consume = list(GridLimitEntry.objects.filter(plant=plant, direction=g.CONSUME).order_by("id"))
    assert [(e.kind, e.value_w, e.valid_from, e.valid_to) for e in consume] == [
        (g.FAILSAFE_KIND, 10_000.0, at(0), at(10)),
        (g.LIMITED_KIND, 4200.0, at(10), at(910)),
        (g.UNLIMITED, None, at(910), None),
    ]
    row = GridLimits.objects.get(plant=plant)
    assert (row.lpc_state, row.last_heartbeat_peer, row.last_writer) == (g.UNLIMITED_CONTROLLED, "ab" * 20, "")


def test_rejected_writes_change_nothing(plant: Plant) -> None:
    controlled(plant)
    services.heartbeat(plant.pk, now=at(5))
    before = list(GridLimits.objects.filter(plant=plant).values())
    for limit_w in (-1.0, float("inf")):
        with pytest.raises(g.Rejected):
            services.write_limit(plant.pk, g.CONSUME, active=True, value_w=limit_w, duration_s=None, now=at(6))
    bad: list[tuple[str | None, float | None, float | None]] = [
        (g.CONSUME, -5.0, None),
        (None, None, 3600.0),
        (None, None, 90_000.0),
    ]
    for direction, value, duration in bad:
        with pytest.raises(g.Rejected):
            services.write_failsafe(plant.pk, direction, value, duration, now=at(6))
    assert list(GridLimits.objects.filter(plant=plant).values()) == before


def test_not_controlled_refuses_limit_writes(plant: Plant) -> None:
    with pytest.raises(g.Rejected, match="not controlled"):
        services.write_limit(plant.pk, g.CONSUME, active=True, value_w=4200.0, duration_s=None)


def test_restart_during_a_limit_comes_back_limited(plant: Plant) -> None:
    controlled(plant)
    services.heartbeat(plant.pk, now=at(5))
    services.write_limit(plant.pk, g.PRODUCE, active=True, value_w=3000.0, duration_s=None, now=at(10))
    services.write_failsafe(plant.pk, g.PRODUCE, 6000.0, None, now=at(11))
    # Every process restarts: the facts come from the database; the EEBus service starts in init.
    services.restart(plant.pk, at(20))
    status = services.status(plant.pk, at(21))
    assert status is not None
    assert (status.produce.state, status.lpp_w, status.failsafe) == (g.INIT, 6000.0, True)
    # The reported limit is deactivated (LPC-TS-009/2), its value kept.
    limit = asyncio.run(backend.SmartgridBackend(plant.pk).limit(backend.Direction.PRODUCE))
    assert (limit.active, limit.value_w) == (False, 3000.0)


def test_history_ring_never_grows_past_its_size(plant: Plant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gh, "HISTORY_SIZE", 12)
    controlled(plant)
    for n in range(30):
        services.heartbeat(plant.pk, now=at(5 + n))
        services.write_limit(plant.pk, g.CONSUME, active=True, value_w=1000.0 + n, duration_s=None, now=at(5 + n))
    entries = GridLimitEntry.objects.filter(plant=plant).order_by("id")
    assert entries.count() == 12
    assert entries.last() is not None and entries.last().value_w == 1029.0  # type: ignore[union-attr]


def test_backend_follows_the_protocol(plant: Plant) -> None:
    controlled(plant)
    api = backend.SmartgridBackend(plant.pk)

    async def talk() -> tuple[object, ...]:
        await api.started()
        await api.heartbeat("cd" * 20, 7)
        await api.write_limit(backend.Direction.CONSUME, backend.PowerLimit(True, 4200.0, 900.0), "cd" * 20)
        with pytest.raises(backend.Rejected) as refused:
            await api.write_limit(backend.Direction.CONSUME, backend.PowerLimit(True, -1.0), "cd" * 20)
        with pytest.raises(backend.Rejected):
            await api.write_failsafe(None, None, 60.0, "cd" * 20)
        await api.write_failsafe(backend.Direction.CONSUME, 4200.0, 3 * 3600.0, "cd" * 20)
        return (
            await api.limit(backend.Direction.CONSUME),
            await api.failsafe_value_w(backend.Direction.CONSUME),
            await api.failsafe_duration_s(),
            await api.nominal_max_w(backend.Direction.CONSUME),
            await api.nominal_max_w(backend.Direction.PRODUCE),
            await api.measurements(),
            refused.value.reason,
        )

    limit, failsafe, duration, consume_max, produce_max, measured, reason = asyncio.run(talk())
    assert isinstance(limit, backend.PowerLimit) and limit.active and limit.value_w == 4200.0
    assert limit.duration_s is not None and 890 < limit.duration_s <= 900
    assert (failsafe, duration, consume_max, produce_max) == (4200.0, 10_800.0, 32_000.0, 10_000.0)
    assert measured is None  # no snapshot yet
    assert "negative" in str(reason)
