"""Persistence of the meter's counters and logs, and reading them back (MET-1, MET-5)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from energy.averaging import INTERVAL, IntervalAverage
from energy.counters import CounterState
from energy.state import EnergyCounters
from events import retention
from meter.models import EnergyRecord, EnergyTotals, MeterLog

log = logging.getLogger(__name__)


def load_counters(plant_id: int) -> CounterState:
    row = EnergyTotals.objects.filter(plant_id=plant_id).first()
    if row is None:
        return CounterState()
    return CounterState(offsets=dict(row.offsets), last_raw=dict(row.last_raw), last_raw_at=row.last_raw_at)


def save_counters(plant_id: int, state: CounterState) -> None:
    EnergyTotals.objects.update_or_create(
        plant_id=plant_id,
        defaults={"offsets": state.offsets, "last_raw": state.last_raw, "last_raw_at": state.last_raw_at},
    )


def save_interval(plant_id: int, interval: IntervalAverage, totals: EnergyCounters) -> bool:
    """Write one finished 5-minute interval and the energy totals at its end, once.

    Returns whether it was written. An interval already written (the clock went back, a
    second worker) is kept as it is: the first write wins. The intervals between the last one
    written and this one (the worker or the meter was down, the clock jumped forward) become
    gap rows; a gap row is the only row that a measured interval may replace.
    """
    values: dict[str, Any] = dict(interval.values)
    values.update(
        samples=interval.samples,
        grid_power_min_w=interval.grid_power_min_w,
        grid_power_max_w=interval.grid_power_max_w,
        curtailed=interval.curtailed,
        gap=False,
    )
    with transaction.atomic():
        existing = MeterLog.objects.select_for_update().filter(plant_id=plant_id, start=interval.start).first()
        if existing is not None and not existing.gap:
            log.warning(
                "plant %s: the 5-minute interval from %s is already written; the clock went back? Kept the first",
                plant_id,
                interval.start.isoformat(),
            )
            return False
        _mark_gaps_before(plant_id, interval.start)
        if existing is None:
            MeterLog.objects.create(plant_id=plant_id, start=interval.start, **values)
        else:
            MeterLog.objects.filter(pk=existing.pk).update(**values)
        EnergyRecord.objects.get_or_create(plant_id=plant_id, time=interval.start + INTERVAL, defaults=totals.as_dict())
    return True


def _mark_gaps_before(plant_id: int, start: dt.datetime) -> None:
    oldest = start - dt.timedelta(days=settings.METER_LOG_RETENTION_DAYS)
    previous = (
        MeterLog.objects.filter(plant_id=plant_id, start__lt=start, start__gte=oldest)
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    if previous is None:
        return
    missing = []
    moment = previous + INTERVAL
    while moment < start:
        missing.append(MeterLog(plant_id=plant_id, start=moment, samples=0, gap=True))
        moment += INTERVAL
    if missing:
        MeterLog.objects.bulk_create(missing, ignore_conflicts=True)
        log.info("plant %s: %d 5-minute interval(s) without data marked as gaps", plant_id, len(missing))


def purge_old_logs(now: dt.datetime) -> tuple[int, int]:
    """Drop 5-minute averages older than 14 days and energy records older than 2 years, plant by
    plant in small batches (``events.retention``), so the cycle's writes never wait long."""
    plants = list(plant_model()._default_manager.order_by("pk").values_list("pk", flat=True))
    logs = retention.purge_older_than(
        MeterLog, "start", now - dt.timedelta(days=settings.METER_LOG_RETENTION_DAYS), plants
    )
    records = retention.purge_older_than(
        EnergyRecord, "time", now - dt.timedelta(days=settings.ENERGY_LOG_RETENTION_DAYS), plants
    )
    return logs, records


def plant_model() -> type[Any]:
    """The plant model, reached through the relation (this app sits below ``plant``)."""
    return MeterLog._meta.get_field("plant").related_model  # type: ignore[return-value]


# Every value column of the 5-minute log, in the order of the model.
# Every value column, in the order of the model: start, samples, grid_power_w, ...
LOG_FIELDS = tuple(f.name for f in MeterLog._meta.concrete_fields if f.name not in {"id", "plant"})
ENERGY_FIELDS = tuple(f.name for f in EnergyRecord._meta.concrete_fields if f.name not in {"id", "plant"})


def _iso(rows: Any, time_field: str) -> list[dict[str, Any]]:
    return [{**row, time_field: row[time_field].isoformat()} for row in rows]


def meter_log(plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
    """5-minute averages since ``since``, oldest first."""
    rows = MeterLog.objects.filter(plant_id=plant_id, start__gte=since).order_by("start").values(*LOG_FIELDS)
    return _iso(rows, "start")


def energy_records(plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
    """Energy totals at the end of each 5-minute interval since ``since``, oldest first."""
    rows = EnergyRecord.objects.filter(plant_id=plant_id, time__gte=since).order_by("time").values(*ENERGY_FIELDS)
    return _iso(rows, "time")


# ---- current transformers (MET-2) ----------------------------------------------------------------


def ct_setting(meter: Any) -> dict[str, Any]:
    """The CT setting of a meter as the page and the API show it."""
    from meter import ct

    primary = meter.ct_primary_a
    return {
        "primary_a": primary,
        "secondary_a": ct.SECONDARY_A,
        "factor": ct.ratio(primary),
        "common": primary in ct.COMMON_PRIMARIES_A if primary is not None else None,
        "common_primaries_a": list(ct.COMMON_PRIMARIES_A),
    }


def save_ct_primary(meter: Any, primary_a: int | None) -> None:
    """Store a checked primary (:func:`meter.ct.checked_primary`); the cycle picks it up with the config."""
    meter.ct_primary_a = primary_a
    meter.save(update_fields=["ct_primary_a"])
    log.info("plant %s: current transformer set to %s", meter.plant_id, f"{primary_a}/5 A" if primary_a else "none")
