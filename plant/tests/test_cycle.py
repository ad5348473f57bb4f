"""The cycle end to end against the simulator over real TCP, with the database and Redis.

Runs on PostgreSQL + Redis when DATABASE_URL/REDIS_URL are set, on the embedded defaults otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from meter.models import EnergyRecord, EnergyTotals, Meter, MeterLog
from plant import live
from plant import worker as services
from plant.models import Plant
from plant.tasks import run_cycle
from simulator.testing import SimulatorHandle, run_simulator_in_thread

T0 = dt.datetime(2026, 6, 21, 11, 58, 0, tzinfo=dt.UTC)


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=5) as sim:
        yield sim


@pytest.fixture
def plant(db, simulator: SimulatorHandle) -> Iterator[Plant]:
    plant = Plant.objects.create(name="Test plant")
    Meter.objects.create(plant=plant, host=simulator.host, port=simulator.port, timeout_s=0.3)
    yield plant
    services.shutdown_runtimes()


def test_cycle_publishes_what_the_meter_measures(plant: Plant, simulator: SimulatorHandle):
    simulator.model.override(pv_power_w=3000.0, house_power_w=1200.0, battery_power_w=0.0, wallbox_power_w=0.0)
    time.sleep(0.3)  # the simulated meter measures every 200 ms
    state = services.run_plant_cycle(plant.pk)
    expected = simulator.model.reading()
    assert state.meter is not None
    assert state.meter_status.online
    assert state.meter.active_power_w == pytest.approx(expected.active_power_w, abs=200)
    assert state.flow.pv_power_w == pytest.approx(3000.0, abs=1)
    # What pages, API and health read is exactly what the cycle produced.
    assert live.read_state(plant.pk) == state
    assert state.flow.grid_power_w is not None
    assert state.flow.grid_power_w < 0, "3 kW PV against 1.2 kW house feeds in"


def test_totals_count_from_commissioning_and_survive_a_restart(plant: Plant, simulator: SimulatorHandle):
    # 1 Wh per second of purchase
    simulator.model.override(pv_power_w=0.0, house_power_w=3600.0, battery_power_w=0.0, wallbox_power_w=0.0)
    first = services.run_plant_cycle(plant.pk)
    assert first.totals.active_import_wh == 0.0
    assert EnergyTotals.objects.filter(plant=plant).exists(), "counters are stored when they start"
    time.sleep(2.2)
    before_restart = services.run_plant_cycle(plant.pk).totals.active_import_wh
    assert before_restart > 0.5

    services.shutdown_runtimes()  # the worker stops; its runtime and connections are gone
    time.sleep(1.1)
    after = services.run_plant_cycle(plant.pk)
    assert after.totals.active_import_wh > before_restart
    # Every phase purchases here, so the phases' totals add up to the total (each counter counts in
    # 0.1 Wh steps: three phases may round 0.15 Wh apart from the total, a lot against 3 Wh).
    assert sum(p.active_import_wh for p in after.phase_totals) == pytest.approx(
        after.totals.active_import_wh, rel=0.01, abs=0.16
    )
    assert all(p.active_import_wh > 0 for p in after.phase_totals)


def test_five_minute_averages_and_energy_records_are_written(plant: Plant, simulator: SimulatorHandle):
    simulator.model.override(pv_power_w=0.0, house_power_w=1000.0, battery_power_w=0.0, wallbox_power_w=0.0)
    time.sleep(0.3)
    for second in (0, 60, 119, 120):  # 11:58:00 .. 12:00:00 crosses the 12:00 boundary
        services.run_plant_cycle(plant.pk, now=T0 + dt.timedelta(seconds=second))
    (log,) = MeterLog.objects.filter(plant=plant)
    assert log.start == dt.datetime(2026, 6, 21, 11, 55, tzinfo=dt.UTC)
    assert log.samples == 3
    assert log.grid_power_w == pytest.approx(1000.0, abs=150)
    assert log.house_power_w == pytest.approx(1000.0, abs=150)
    (record,) = EnergyRecord.objects.filter(plant=plant)
    assert record.time == dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("fault", "delay_s", "error_fragment"),
    [
        ("offline", 0.0, "connect"),
        ("exception", 0.0, "exception 4"),
        ("garbage", 0.0, "registers for"),
        ("slow", 1.0, "no answer"),
    ],
)
def test_meter_faults_take_the_meter_offline_until_it_answers_again(
    plant: Plant, simulator: SimulatorHandle, caplog: pytest.LogCaptureFixture, fault, delay_s, error_fragment
):
    assert services.run_plant_cycle(plant.pk).meter_status.online
    simulator.set_fault(fault, delay_s=delay_s)
    caplog.set_level(logging.WARNING, logger="plant.cycle")
    states = [services.run_plant_cycle(plant.pk) for _ in range(3)]
    for state in states:
        assert state.meter is None
        assert not state.meter_status.online
        assert error_fragment in state.meter_status.error.lower()
        assert state.flow.grid_power_w is None
    assert len({s.meter_status.offline_since for s in states}) == 1, "offline since the first failure"
    assert states[-1].totals == states[0].totals, "totals hold while the meter is away"
    assert sum("meter offline" in r.message for r in caplog.records) == 1, "one log line per outage"

    simulator.set_fault("none")
    recovered = services.run_plant_cycle(plant.pk)
    assert recovered.meter_status.online
    assert recovered.meter is not None
    assert sum("meter back online" in r.message for r in caplog.records) == 1


@pytest.mark.django_db(transaction=True)
def test_two_cycles_of_one_plant_never_overlap(simulator: SimulatorHandle):
    plant = Plant.objects.create(name="Slow plant")
    Meter.objects.create(plant=plant, host=simulator.host, port=simulator.port, timeout_s=2.0)
    try:
        run_cycle.run(plant.pk)  # connect first, so the slow cycle below is slow only by the fault
        simulator.set_fault("slow", delay_s=0.3)
        results: list[bool] = []
        first = threading.Thread(target=lambda: results.append(run_cycle.run(plant.pk)))
        first.start()
        time.sleep(0.2)
        second_ran = run_cycle.run(plant.pk)  # the next tick arrives while the first cycle still runs
        first.join(10)
        assert results == [True]
        assert second_ran is False
        simulator.set_fault("none")
        assert run_cycle.run(plant.pk) is True, "the lock is released when the cycle ends"
    finally:
        services.shutdown_runtimes()


def test_a_plant_that_stops_cycling_has_its_connections_closed(
    plant: Plant, simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
):
    services.run_plant_cycle(plant.pk)
    other = Plant.objects.create(name="Other plant")
    Meter.objects.create(plant=other, host=simulator.host, port=simulator.port, timeout_s=0.3)
    monkeypatch.setattr(services, "IDLE_EVICT_S", 0.2)
    time.sleep(0.3)
    plant.delete()  # deleted while the worker still holds its runtime

    services.run_plant_cycle(other.pk)
    assert services.running_plant_ids() == [other.pk]
