"""Plant-level operations that pages, the API, tasks and benchmarks share."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from django.http import HttpRequest
from django.utils import timezone

from meter import services as meter_services
from meter.aggregation import IntervalAverager
from meter.counters import CounterState
from plant import live
from plant.config import PlantConfig, load_config
from plant.cycle import PlantRuntime
from plant.models import Plant
from plant.runtime import device_loop
from plant.state import PlantState

log = logging.getLogger(__name__)

SESSION_PLANT_KEY = "plant_id"
CONFIG_REFRESH_S = 5.0
# A cycle that has not finished by then is abandoned. Longer than the slowest possible device
# read (READ_DEADLINE_TIMEOUTS x MAX_TIMEOUT_S), so a slow meter ends as "no answer", not here.
CYCLE_TIMEOUT_S = 10.0
# A plant without a cycle for this long was deleted, switched off or moved to another worker:
# its runtime is closed, so no connection to its devices stays open here.
IDLE_EVICT_S = 60.0


def active_plant_ids() -> list[int]:
    return list(Plant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def current_plant(request: HttpRequest) -> Plant | None:
    """The plant a page is about: ``?plant=<id>``, else the one chosen before, else the first.

    With a single plant nobody ever has to pick one (PL-1). Looked up once per request: the
    header and the page both ask.
    """
    if not hasattr(request, "_current_plant"):
        request._current_plant = _find_plant(request)  # type: ignore[attr-defined]
    plant: Plant | None = request._current_plant  # type: ignore[attr-defined]
    return plant


def _find_plant(request: HttpRequest) -> Plant | None:
    plants = Plant.objects.order_by("pk")
    wanted = request.GET.get("plant") or request.session.get(SESSION_PLANT_KEY)
    if wanted and str(wanted).isdigit():
        plant = plants.filter(pk=int(wanted)).first()
        if plant is not None:
            request.session[SESSION_PLANT_KEY] = plant.pk
            return plant
    return plants.first()


@dataclass
class _Entry:
    runtime: PlantRuntime
    config_loaded_at: float
    averager: IntervalAverager = field(default_factory=IntervalAverager)
    last_used: float = field(default_factory=time.monotonic)


_runtimes: dict[int, _Entry] = {}
_runtimes_lock = threading.Lock()


def _entry_for(plant_id: int) -> _Entry:
    with _runtimes_lock:
        now = time.monotonic()
        for idle_id in [pk for pk, e in _runtimes.items() if pk != plant_id and now - e.last_used > IDLE_EVICT_S]:
            _close(idle_id, _runtimes.pop(idle_id))
        entry = _runtimes.get(plant_id)
        if entry is None:
            entry = _Entry(_new_runtime(load_config(plant_id)), time.monotonic())
            _runtimes[plant_id] = entry
        elif time.monotonic() - entry.config_loaded_at > CONFIG_REFRESH_S:
            entry.runtime.reconfigure(load_config(plant_id))
            entry.config_loaded_at = time.monotonic()
        entry.last_used = now
        return entry


def _new_runtime(config: PlantConfig) -> PlantRuntime:
    counters = meter_services.load_counters(config.plant_id)
    return device_loop().run(_build_runtime(config, counters), timeout_s=CYCLE_TIMEOUT_S)


async def _build_runtime(config: PlantConfig, counters: CounterState) -> PlantRuntime:
    # The publisher's Redis client must be created inside the loop that will use it.
    return PlantRuntime(config, counters, live.RedisPublisher())


def run_plant_cycle(plant_id: int, now: dt.datetime | None = None) -> PlantState:
    """One cycle of one plant, then the bookkeeping that needs the database."""
    entry = _entry_for(plant_id)
    had_counters = bool(entry.runtime.counter_state.last_raw)
    result = device_loop().run(entry.runtime.cycle(now or timezone.now()), timeout_s=CYCLE_TIMEOUT_S)
    finished = entry.averager.add(result.state)
    if finished is not None:
        meter_services.save_interval(plant_id, finished, result.state.totals)
    if finished is not None or result.counters_rebased or (result.counters.last_raw and not had_counters):
        meter_services.save_counters(plant_id, result.counters)
    return result.state


def _close(plant_id: int, entry: _Entry) -> None:
    """Persist the plant's counters and close its device connections."""
    if entry.runtime.counter_state.last_raw and Plant.objects.filter(pk=plant_id).exists():
        meter_services.save_counters(plant_id, entry.runtime.counter_state)
    try:
        device_loop().run(entry.runtime.close(), timeout_s=2.0)
    except Exception:
        log.exception("closing plant %s", plant_id)


def shutdown_runtimes() -> None:
    """Close every plant's runtime (worker shutdown)."""
    with _runtimes_lock:
        for plant_id, entry in list(_runtimes.items()):
            _close(plant_id, entry)
        _runtimes.clear()


def running_plant_ids() -> list[int]:
    """Plants whose runtime (device connections) this process holds."""
    with _runtimes_lock:
        return sorted(_runtimes)
