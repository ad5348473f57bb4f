"""Faults at fleet scale (issue 18 part 5): nothing lost, nothing twice, no limit left unsafe.

The first tests drive the worker's cycle in this process and hand a plant over between two
"workers" (its runtime closed here, as the heartbeat closes it when another worker takes the
plant, then built afresh): the 5-minute log and the event log must read as if one worker had
run throughout.

The stack test runs the fleet as in production, on servers of its own it may hurt: a private
redis-server (the embedded one) and a private PostgreSQL cluster (initdb + pg_ctl, as nobody),
``python -m simulator --plants N`` (each plant a meter and an inverter that falls back to 50 % by
itself when no write came for ``WATCHDOG_S``), two Celery workers and a beat. The product limits
every inverter far below that (feed-in limit 0 W). Then, in sequence:

* the network to plant 1's devices is cut (the simulator closes their ports) and, during that
  outage, the worker that drives plant 1 is killed (``kill -9``) in the middle of a cycle: every
  plant cycles again within 5 s (the survivor's never stop); the killed worker's plants keep the
  limit they had (a handover is shorter than the inverters' watchdog); plant 1's inverter, which
  nobody reaches, falls back to its own 50 %; when the network is back the product writes the
  limit again; the outage is one device_offline and one device_online event per device, though
  it began on one worker and ended on the other;
* the killed worker comes back and takes its plants again;
* Redis is killed and started again; PostgreSQL is stopped and started again: cycles resume
  within 5 s of the server being back, for every plant (while PostgreSQL is down they go on);
* throughout, no plant's energy totals ever go backwards.

``make faults`` (KSEM_FAULTS=long) runs the same with more plants and a longer PostgreSQL outage.
Without PostgreSQL binaries on the machine the fleet runs on SQLite and the PostgreSQL step is
skipped (the test says so).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from events.models import DEVICE_OFFLINE, DEVICE_ONLINE, Event
from meter.models import Meter, MeterLog
from plant import worker
from plant.models import Plant
from redisconn.snapshots import read_state
from simulator.testing import run_simulator_in_thread
from tests.faults import RESUME_WITHIN_S, long_form, wait_for
from tests.fleetfaults import FleetSampler, PrivatePostgres, PrivateRedis, postgres_bin, rows
from tests.stack import BIN, ROOT, celery_worker_command, free_port, wait_started

T0 = dt.datetime(2026, 6, 21, 12, 0, 10, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


# --- a handover in this process -------------------------------------------------------------------
@pytest.fixture
def simulated(db) -> Iterator[tuple[Plant, object]]:
    with run_simulator_in_thread(seed=5) as sim:
        plant = Plant.objects.create(name="Handover plant")
        Meter.objects.create(plant=plant, host=sim.host, port=sim.port, timeout_s=0.3)
        yield plant, sim
        worker.shutdown_runtimes()


def test_the_interval_in_progress_is_carried_on_by_the_next_worker(simulated) -> None:
    plant, _sim = simulated
    for second in range(0, 200, 20):  # 12:00:10 ... 12:03:10 on the first worker
        worker.run_plant_cycle(plant.pk, now=_at(second))
    worker.drop_runtime(plant.pk)  # another worker takes the plant over (plant.fleet)
    for second in range(200, 320, 20):  # ... 12:05:10 on the next: the 12:00 interval ends
        worker.run_plant_cycle(plant.pk, now=_at(second))

    (row,) = MeterLog.objects.filter(plant=plant)
    assert row.start == dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.UTC)
    assert row.samples == 15 and not row.gap, "every sample of the interval, from both workers, once"


def test_an_interval_ended_just_before_the_handover_is_written_not_marked_a_gap(simulated) -> None:
    plant, _sim = simulated
    for second in range(0, 290, 30):  # 12:00:10 ... 12:04:40: the whole 12:00 interval on one worker
        worker.run_plant_cycle(plant.pk, now=_at(second))
    worker.drop_runtime(plant.pk)  # handed over before its first cycle of 12:05
    for second in (295, 600):  # 12:05:05 on the next worker; 12:10:10 ends the 12:05 interval
        worker.run_plant_cycle(plant.pk, now=_at(second))

    log = {row.start.strftime("%H:%M"): (row.samples, row.gap) for row in MeterLog.objects.filter(plant=plant)}
    assert log == {"12:00": (10, False), "12:05": (1, False)}


def test_with_many_plants_a_finished_interval_is_written_within_the_spread_and_at_the_latest_on_handover(
    simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every plant's interval ends at the same moment; a worker with many plants writes them spread
    over the following seconds (not all in the one second after the boundary), never later than
    the spread, and a plant handed over meanwhile has its interval written on the way out."""
    plant, _sim = simulated
    monkeypatch.setattr(worker, "WRITE_SPREAD_PER_PLANT_S", 60.0)  # one plant: a spread of 60 s
    for second in range(0, 290, 30):  # 12:00:10 ... 12:04:40
        worker.run_plant_cycle(plant.pk, now=_at(second))
    delay = worker._write_delay(plant.pk)  # the plant's turn among the worker's plants
    assert dt.timedelta(0) <= delay < dt.timedelta(seconds=60)
    end = dt.datetime(2026, 6, 21, 12, 5, tzinfo=dt.UTC)
    worker.run_plant_cycle(plant.pk, now=end)  # the interval ends
    if delay > dt.timedelta(0):
        assert not MeterLog.objects.filter(plant=plant).exists(), "not yet: the plant's turn comes later"
    worker.run_plant_cycle(plant.pk, now=end + delay)
    (row,) = MeterLog.objects.filter(plant=plant)
    assert row.start == dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.UTC) and row.samples == 10

    worker.run_plant_cycle(plant.pk, now=dt.datetime(2026, 6, 21, 12, 10, tzinfo=dt.UTC))  # ends 12:05
    worker.drop_runtime(plant.pk)  # handed over before the plant's turn
    log = {row.start.strftime("%H:%M"): (row.samples, row.gap) for row in MeterLog.objects.filter(plant=plant)}
    assert log == {"12:00": (10, False), "12:05": (2, False)}


def test_the_write_spread_grows_with_the_plants_a_worker_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_runtimes", dict.fromkeys(range(4)))
    assert {worker._write_delay(plant_id) for plant_id in range(1, 200)} == {dt.timedelta(0)}, "a home: at once"
    monkeypatch.setattr(worker, "_runtimes", dict.fromkeys(range(150)))
    due: dict[int, int] = {}
    for plant_id in range(1000, 1150):
        seconds = worker._write_delay(plant_id).total_seconds()
        assert 0 <= seconds < 30
        due[int(seconds)] = due.get(int(seconds), 0) + 1
    assert max(due.values()) <= 6, "150 plants over 30 s: about five a second, never all at once"


def test_an_outage_that_began_on_one_worker_and_ends_on_another_is_one_event_pair(simulated) -> None:
    plant, sim = simulated
    worker.run_plant_cycle(plant.pk, now=_at(0))
    sim.set_fault("offline")
    for second in (1, 2, 3):
        worker.run_plant_cycle(plant.pk, now=_at(second))
    worker.drop_runtime(plant.pk)  # the plant moves during the outage
    for second in (4, 5, 6):
        worker.run_plant_cycle(plant.pk, now=_at(second))
    sim.set_fault("none")
    for second in (70, 71):
        worker.run_plant_cycle(plant.pk, now=_at(second))

    events = list(Event.objects.filter(plant=plant).order_by("time").values_list("kind", "source", "time", "message"))
    assert [(kind, source) for kind, source, _, _ in events] == [(DEVICE_OFFLINE, "meter"), (DEVICE_ONLINE, "meter")]
    (_, _, began, _), (_, _, ended, message) = events
    assert began < _at(3) and ended == _at(70), "begun on the first worker, ended on the next"
    # The whole outage from its first start (the next worker's own view would be 66 or 67 s).
    assert message == f"meter back online after 1 min {int((ended - began).total_seconds()) - 60:02d} s"


def test_totals_never_go_back_when_a_killed_workers_plant_is_taken_over_with_its_meter_away(simulated) -> None:
    plant, sim = simulated
    worker.run_plant_cycle(plant.pk, now=_at(0))  # the first reading is stored; then no save for 5 minutes
    sim.model.advance(sim.model.now + dt.timedelta(minutes=30))
    before = worker.run_plant_cycle(plant.pk, now=_at(10)).totals
    assert sum(before.as_dict().values()) > 1.0, "energy flowed since the first reading"
    worker._runtimes.pop(plant.pk)  # killed: nothing closed, nothing saved
    sim.set_fault("offline")
    worker.run_plant_cycle(plant.pk, now=_at(12))  # ... and the next worker cannot read the meter yet
    sim.set_fault("none")
    state = read_state(plant.pk)
    assert state is not None and not state.meter_status.online
    assert state.totals == before, "the totals the last snapshot showed, not those stored 5 minutes before"
    after = worker.run_plant_cycle(plant.pk, now=_at(14)).totals
    assert all(after.as_dict()[name] >= value for name, value in before.as_dict().items())


# --- the fleet under faults ------------------------------------------------------------------------
PLANTS = 16 if long_form() else 8
WORKERS = ("faults1@fleet", "faults2@fleet")
# Longer than the product's refresh of a setpoint (10 s) plus a handover (3-4 s); real inverters: 30 s.
WATCHDOG_S = 15.0
FALLBACK_PCT = 50
SCENARIO = {
    "battery": None,
    "wallbox": None,
    "inverters": [
        {
            "name": "roof",
            "type": "plenticore",
            "max_ac_w": 20000,
            "pv_peak_w": 8000,
            "watchdog_s": WATCHDOG_S,
            "fallback_limit_pct": FALLBACK_PCT,
        }
    ],
}
SUNNY = "2026-06-21T10:30:00+00:00"  # 12:30 in Berlin: every plant's PV well above its house
SETUP = """
import json, os
from django.utils import timezone
from inverters.models import Inverter, PowerSettings
from meter.models import Meter
from plant.models import Plant
ids = []
for number, devices in enumerate(json.load(open(os.environ["FLEET_PORTS"]))["plants"], start=1):
    plant = Plant.objects.create(name=f"Fleet plant {number}")
    Meter.objects.create(plant=plant, port=devices["meter"], timeout_s=0.5)
    Inverter.objects.create(plant=plant, name="roof", type="plenticore", max_ac_w=20000, host="127.0.0.1",
                            detected_at=timezone.now(), port=devices["roof"], unit_id=71, position=1)
    PowerSettings.objects.update_or_create(plant=plant, defaults={"feed_in_limit_enabled": True,
                                           "limit_mode": "w", "limit_value": 0})
    ids.append(plant.pk)
print(json.dumps(ids, separators=(",", ":")))
"""


@dataclass
class Fleet:
    tmp: Path
    env: dict[str, str]
    redis: PrivateRedis
    postgres: PrivatePostgres | None
    database_url: str
    fault_file: Path
    stats_file: Path
    processes: dict[str, subprocess.Popen[bytes]]
    plant_ids: list[int]
    sampler: FleetSampler | None = None

    def start(self, name: str, command: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start_worker(self, node: str) -> None:
        self.start(node, celery_worker_command(node))

    def manage(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env | env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def key(self, *parts: object) -> str:
        return ":".join([self.env["KSEM_REDIS_PREFIX"], *map(str, parts)])

    def holders(self) -> dict[int, str | None]:
        client = self.redis.client()
        values = client.mget([self.key("plant", p, "lease") for p in self.plant_ids])
        return {p: _text(v) for p, v in zip(self.plant_ids, values, strict=True)}

    def live_workers(self) -> list[str]:
        client = self.redis.client()
        names = sorted(str(_text(n)) for n in client.smembers(self.key("fleet", "workers")))
        return [n for n in names if client.exists(self.key("fleet", "worker", n))]


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Fleet]:
    var = tmp_path / "var"
    var.mkdir()
    redis_server = PrivateRedis(var)
    bin_dir = postgres_bin()
    postgres = PrivatePostgres(bin_dir, free_port()) if bin_dir else None
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "KSEM_FAULTS"}}
    database_url = postgres.url if postgres else f"sqlite:///{var / 'db.sqlite3'}"
    env.update(
        DJANGO_SETTINGS_MODULE="ksem_site.settings",
        KSEM_VAR_DIR=str(var),
        KSEM_REDIS_PREFIX=f"fleetfaults{os.getpid()}",
        DATABASE_URL=database_url,
        KSEM_GUARD_PERIOD_S="0",  # about who drives which plant, not the sub-second guard
        PYTHONUNBUFFERED="1",
    )
    scenario, ports_file = tmp_path / "scenario.json", tmp_path / "ports.json"
    scenario.write_text(json.dumps(SCENARIO))
    running = Fleet(tmp_path, env, redis_server, postgres, database_url, tmp_path / "faults.txt",
                    tmp_path / "stats.json", {}, [])  # fmt: skip
    try:
        redis_server.start()
        if postgres is not None:
            postgres.init()
        running.manage("migrate", "--noinput")
        running.start(
            "simulator",
            [
                str(BIN / "python"), "-m", "simulator", "--plants", str(PLANTS), "--seed", "11",
                "--scenario", str(scenario), "--start", SUNNY, "--port", "0", "--inverter-port-base", "0",
                "--wallbox-port-base", "0", "--ports-file", str(ports_file), "--stats-file", str(running.stats_file),
                "--fault-file", str(running.fault_file), "--log-level", "WARNING",
            ],
        )  # fmt: skip
        wait_started(lambda: ((_json(ports_file) or {}).get("plants"), "simulator starting"), "the simulator", cap_s=90)
        running.plant_ids = json.loads(
            running.manage("shell", "-c", SETUP, FLEET_PORTS=str(ports_file)).splitlines()[-1]
        )
        for node in WORKERS:
            running.start_worker(node)
        running.start("beat", [str(BIN / "celery"), "-A", "ksem_site", "beat", "-l", "info",
                               "-s", str(var / "celerybeat-schedule")])  # fmt: skip
        running.sampler = FleetSampler(redis_server, env["KSEM_REDIS_PREFIX"], running.plant_ids, running.stats_file)
        running.sampler.start()
        yield running
    finally:
        if running.sampler is not None:
            running.sampler.stop()
        running.stop_all()
        redis_server.kill()
        if postgres is not None:
            postgres.destroy()


def _all_cycling(fleet_: Fleet, since: float) -> str:
    """'' when every plant has cycled after ``since``, else which have not."""
    assert fleet_.sampler is not None
    waiting = [p for p in fleet_.plant_ids if fleet_.sampler.first_cycle_after(p, since) is None]
    return f"plants {waiting} not cycled yet" if waiting else ""


def _resumed_within(fleet_: Fleet, back_at: float, what: str) -> dict[int, float]:
    """Seconds from ``back_at`` to each plant's first cycle after it; all within RESUME_WITHIN_S."""
    sampler = fleet_.sampler
    assert sampler is not None
    wait_for(lambda: not _all_cycling(fleet_, back_at), RESUME_WITHIN_S + 2, f"every plant cycling after {what}")
    resumed = {p: (sampler.first_cycle_after(p, back_at) or 0) - back_at for p in fleet_.plant_ids}
    late = {p: round(s, 1) for p, s in resumed.items() if s > RESUME_WITHIN_S}
    assert not late, f"after {what}, plants resumed later than {RESUME_WITHIN_S} s: {late}"
    print(f"{what}: every plant cycled again within {max(resumed.values()):.1f} s")
    return resumed


def _events(fleet_: Fleet, plant_id: int) -> list[tuple[str, str]]:
    return [
        (kind, source)
        for kind, source in rows(
            fleet_.database_url,
            "SELECT kind, source FROM events_event WHERE plant_id = %s AND kind IN (%s, %s) ORDER BY time, id",
            plant_id,
            DEVICE_OFFLINE,
            DEVICE_ONLINE,
        )
    ]


def _owner_pid(holder: str | None) -> int | None:
    return int(holder.rpartition(":")[2]) if holder else None


def _kill_mid_cycle(fleet_: Fleet, node: str) -> float:
    """``kill -9`` the worker while it is inside a cycle of one of its plants (its cycle lock held);
    returns the moment."""
    pid = fleet_.processes[node].pid
    client = fleet_.redis.client()
    mine = [p for p, h in fleet_.holders().items() if _owner_pid(h) == pid]
    locks = [fleet_.key("plant", p, "cycle-lock") for p in mine]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(client.mget(locks)):
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    fleet_.processes.pop(node).wait(10)
    return killed_at


@pytest.mark.stack
def test_a_fleet_survives_a_worker_killed_a_network_cut_and_its_servers_restarted(running: Fleet) -> None:
    fleet_, sampler = running, running.sampler
    assert sampler is not None
    plant_ids = fleet_.plant_ids
    cut = plant_ids[0]  # the simulator's fault file acts on its first plant
    # Steady: both workers in the fleet, every plant cycling and its inverter limited by the product.
    wait_started(
        lambda: (
            sorted(fleet_.live_workers()) == sorted(WORKERS) and all(fleet_.holders().values())
            and all(sampler.limited(p) for p in plant_ids),
            f"workers {fleet_.live_workers()}, limited {[p for p in plant_ids if sampler.limited(p)]}",
        ),
        "both workers driving every plant, every inverter limited",
        cap_s=240,
    )  # fmt: skip
    time.sleep(2.0)  # handovers while the second worker joined settle

    # 1. The network to plant 1's devices is cut; its worker logs the outage ...
    fleet_.fault_file.write_text("meter=offline\nroof=offline\n")
    cut_at = time.time()
    wait_for(lambda: len(_events(fleet_, cut)) == 2, 15, "plant 1's outage logged (meter and inverter)")
    victim = next(node for node in WORKERS if fleet_.processes[node].pid == _owner_pid(fleet_.holders()[cut]))
    survivor = next(node for node in WORKERS if node != victim)
    victims_plants = [p for p, h in fleet_.holders().items() if _owner_pid(h) == fleet_.processes[victim].pid]
    # ... and that worker is killed in the middle of a cycle: the plants move during the outage.
    killed_at = _kill_mid_cycle(fleet_, victim)
    _resumed_within(fleet_, killed_at, f"{victim} killed")
    survivor_pid = fleet_.processes[survivor].pid
    wait_for(lambda: all(_owner_pid(h) == survivor_pid for h in fleet_.holders().values()), 5, "all on the survivor")
    time.sleep(2.0)
    # The survivor's own plants never stopped; every plant's limit stayed in force through the move.
    for plant_id in plant_ids:
        times = [killed_at - 3, *sampler.cycles(plant_id, killed_at - 3, time.time())]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if plant_id not in victims_plants:
            assert max(gaps) <= 2.5, f"plant {plant_id} of the survivor stopped cycling: {gaps}"
        if plant_id != cut:
            unsafe = [t for t in sampler.truth(plant_id, killed_at) if not (t[2] and t[1] < 40.0)]
            assert not unsafe, f"plant {plant_id}: its limit was not in force while its worker was away: {unsafe}"
    assert set(victims_plants) - {cut}, "the killed worker drove more plants than the one cut off"

    # Plant 1's inverter, out of reach, falls back to its own limit by itself (its watchdog).
    wait_for(
        lambda: (t := sampler.truth(cut)[-1:]) and not t[0][2] and t[0][1] == FALLBACK_PCT,
        WATCHDOG_S + 5,
        "plant 1's inverter at its own fallback",
    )
    assert sampler.meter_online(cut) is False and sampler.first_cycle_after(cut, killed_at + 1), "cycling, meter away"
    # The network is back: the product takes the inverter over again and logs each outage's end.
    fleet_.fault_file.write_text("")
    back_at = time.time()
    took = wait_for(lambda: sampler.limited(cut) and time.time(), RESUME_WITHIN_S + 5, "plant 1's limit written again")
    print(f"network back: plant 1's limit in force again after {took - back_at:.1f} s")
    wait_for(lambda: len(_events(fleet_, cut)) >= 4, 10, "the end of plant 1's outage logged")
    time.sleep(1.5)
    assert sorted(_events(fleet_, cut)) == sorted(
        [(DEVICE_OFFLINE, "meter"), (DEVICE_OFFLINE, "roof"), (DEVICE_ONLINE, "meter"), (DEVICE_ONLINE, "roof")]
    ), "one event per outage and one per return, though two workers saw it"
    for plant_id in plant_ids[1:]:
        assert _events(fleet_, plant_id) == [], f"plant {plant_id}: an outage logged that never was"
    print(f"network cut for {back_at - cut_at:.0f} s: 2 outages, 4 events")

    # 2. The killed worker comes back and takes its share again.
    fleet_.start_worker(victim)
    wait_started(lambda: (victim in fleet_.live_workers(), "starting"), f"{victim} back", cap_s=180)
    victim_pid = fleet_.processes[victim].pid
    wait_for(
        lambda: {_owner_pid(h) for h in fleet_.holders().values()} == {victim_pid, survivor_pid}, 10, "spread again"
    )
    time.sleep(2.0)

    # 3. Redis killed and started again (everything in it lost: leases, registry, queues, snapshots).
    fleet_.redis.kill()
    time.sleep(1.0)
    fleet_.redis.start()
    _resumed_within(fleet_, time.time(), "Redis restarted")

    # 4. PostgreSQL stopped and started again.
    if fleet_.postgres is None:
        print("no PostgreSQL binaries on this machine: the fleet ran on SQLite, PostgreSQL was not restarted")
    else:
        fleet_.postgres.stop()
        stopped_at = time.time()
        time.sleep(10.0 if long_form() else 3.0)
        fleet_.postgres.start()
        # The plants went on cycling meanwhile, on the settings their workers hold.
        still = {p: len(sampler.cycles(p, stopped_at + 1.0, time.time())) for p in plant_ids}
        assert all(still.values()), f"cycles while PostgreSQL was down, per plant: {still}"
        _resumed_within(fleet_, time.time(), "PostgreSQL restarted")

    # Throughout: totals never went backwards; every inverter limited again in the end.
    time.sleep(2.0)
    assert sampler.backwards() == {}
    wait_for(lambda: all(sampler.limited(p) for p in plant_ids), 10, "every inverter limited again")
    duplicates = rows(
        fleet_.database_url,
        "SELECT plant_id, start, COUNT(*) FROM meter_meterlog GROUP BY plant_id, start HAVING COUNT(*) > 1",
    )
    assert duplicates == []
