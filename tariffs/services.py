"""Where the tariff models meet the pure pricing: versions, dynamic prices, the energy history, costs.

The energy history is derived from the meter app's records through the plant's relations
(``plant.energy_records``, ``plant.meter_logs``): the device apps do not import each other's models.
"""

from __future__ import annotations

import datetime as dt
import logging
import urllib.request
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.dispatch import Signal
from django.utils import timezone

from events import retention
from tariffs import pricing
from tariffs.history import interval_energy
from tariffs.models import DynamicPrice, EnergyHour, PriceSource, TariffSettings, TariffVersion
from tariffs.price_files import PriceFileError, PricePoint, parse_json

log = logging.getLogger(__name__)

HOUR = pricing.HOUR
# Kept longer than 2 years (MET-5), so the year two years back is still whole.
HISTORY_RETENTION = dt.timedelta(days=2 * 366 + 31)
HISTORY_CHUNK = dt.timedelta(days=31)
LOG_INTERVAL_H = 5 / 60  # a 5-minute average covers 1/12 h
FETCH_TIMEOUT_S = 10.0
MAX_FETCH_BYTES = 5_000_000
ENERGY_FIELD = {"purchase": "purchase_mwh", "feed_in": "feed_in_mwh"}
RECORD_FIELD = {"purchase": "active_import_wh", "feed_in": "active_export_wh"}


def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (the device apps sit below ``plant``)."""
    model = TariffVersion._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


def zone(plant: Any) -> ZoneInfo:
    return ZoneInfo(plant.time_zone)


def contract(plant: Any) -> TariffSettings:
    settings, _ = TariffSettings.objects.get_or_create(plant=plant)
    return settings


def save_contract(plant: Any, *, currency: str, time_zone: str) -> None:
    """Currency and the device time zone (the plant's own: it also sets the local hours of the history)."""
    TariffSettings.objects.update_or_create(plant=plant, defaults={"currency": currency})
    if plant.time_zone != time_zone:
        plant.time_zone = time_zone
        plant.save(update_fields=["time_zone"])


# ---- versions ---------------------------------------------------------------------------------


def version_in_force(plant: Any, direction: str, at: dt.datetime | None = None) -> TariffVersion | None:
    versions = TariffVersion.objects.filter(plant=plant, direction=direction)
    current = versions.filter(valid_from__lte=at or timezone.now()).order_by("-valid_from").first()
    return current or versions.order_by("valid_from").first()


def save_version(
    plant: Any,
    direction: str,
    *,
    valid_from: dt.datetime,
    basic_charge: Decimal,
    names: Sequence[str],
    prices: Sequence[Decimal],
    grid: Sequence[Sequence[int]],
) -> TariffVersion:
    """A new version from ``valid_from`` on (one at exactly that time is replaced); unused prices dropped."""
    names, prices, grid = pricing.prune_unused(names, prices, grid)
    pricing.WeeklyTariff(valid_from=valid_from, prices=tuple(prices), grid=tuple(map(tuple, grid)))  # checks the shape
    version, _ = TariffVersion.objects.update_or_create(
        plant=plant,
        direction=direction,
        valid_from=valid_from,
        defaults={
            "basic_charge": basic_charge,
            "prices": [{"name": n, "price": str(p)} for n, p in zip(names, prices, strict=True)],
            "grid": grid,
        },
    )
    return version


def price_book(plant: Any, direction: str, start: dt.datetime, end: dt.datetime) -> pricing.PriceBook:
    versions = [v.as_tariff() for v in TariffVersion.objects.filter(plant=plant, direction=direction)]
    points = [
        PricePoint(start=s, end=e, price=p)
        for s, e, p in DynamicPrice.objects.filter(
            plant=plant, direction=direction, start__lt=end, end__gt=start
        ).values_list("start", "end", "price")
    ]
    return pricing.PriceBook(versions, points, zone(plant))


# ---- dynamic prices ---------------------------------------------------------------------------

# Sent (``plant_id=``) after new prices are committed: a bulk insert sends no model signal, and
# the cycle's charging plans must hear of them (plant.apps announces it to the plant's worker).
prices_stored = Signal()


def store_prices(plant: Any, direction: str, points: Sequence[PricePoint], source: str = "file") -> int:
    """Replace the stored prices over the time the new ones cover, all or nothing."""
    if not points:
        return 0
    with transaction.atomic():
        DynamicPrice.objects.filter(
            plant=plant, direction=direction, start__lt=points[-1].end, end__gt=points[0].start
        ).delete()
        DynamicPrice.objects.bulk_create(
            DynamicPrice(plant=plant, direction=direction, start=p.start, end=p.end, price=p.price, source=source)
            for p in points
        )
        plant_id = plant.pk
        transaction.on_commit(lambda: prices_stored.send(sender=DynamicPrice, plant_id=plant_id))
    return len(points)


def fetch_prices(source: PriceSource) -> int:
    """Fetch one endpoint; a failure is kept on the source (shown on the settings page) and stores nothing."""
    request = urllib.request.Request(source.url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_FETCH_BYTES + 1)
        if len(body) > MAX_FETCH_BYTES:
            raise PriceFileError(0, "the answer is larger than 5 MB")
        count = store_prices(source.plant, source.direction, parse_json(body), source="http")
    except (OSError, ValueError) as error:
        source.last_error = str(error)[:500] or error.__class__.__name__
        source.save(update_fields=["last_error"])
        log.warning(
            "plant %s: fetching %s prices from %s failed: %s", source.plant_id, source.direction, source.url, error
        )
        return 0
    source.last_error = ""
    source.last_fetched_at = timezone.now()
    source.save(update_fields=["last_error", "last_fetched_at"])
    return count


# ---- energy history ---------------------------------------------------------------------------


def _device_energy(plant: Any, edges: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[dict[str, int | None]]:
    """Per hour, energy of the devices from the 5-minute averages (only while those are kept)."""
    result: list[dict[str, float | None]] = [
        {
            "pv_mwh": None,
            "house_mwh": None,
            "battery_charge_mwh": None,
            "battery_discharge_mwh": None,
            "wallbox_mwh": None,
        }
        for _ in edges
    ]
    if not edges:
        return []
    starts = [start for start, _ in edges]
    rows = plant.meter_logs.filter(start__gte=edges[0][0], start__lt=edges[-1][1], samples__gt=0).values_list(
        "start", "pv_power_w", "house_power_w", "battery_power_w", "wallbox_power_w"
    )
    for start, pv, house, battery, wallbox in rows:
        hour = result[bisect_right(starts, start) - 1]
        values = {
            "pv_mwh": pv,
            "house_mwh": house,
            "wallbox_mwh": wallbox,
            "battery_charge_mwh": None if battery is None else max(battery, 0.0),
            "battery_discharge_mwh": None if battery is None else max(-battery, 0.0),
        }
        for name, power_w in values.items():
            if power_w is not None:
                hour[name] = (hour[name] or 0.0) + power_w * LOG_INTERVAL_H * 1000
    return [{name: None if v is None else round(v) for name, v in hour.items()} for hour in result]


def update_energy_history(plant: Any) -> int:
    """Add every hour the energy records already reach past; returns how many were written.

    Hours are local hours of the plant. An hour is written once, when the records reach past its
    end; during an outage nothing is written until the records resume, and then the energy across
    the outage is shared out over its hours, which are marked as gaps.
    """
    tz = zone(plant)
    records = plant.energy_records
    newest = records.order_by("-time").values_list("time", flat=True).first()
    if newest is None:
        return 0
    last = EnergyHour.objects.filter(plant=plant).order_by("-start").values_list("start", flat=True).first()
    if last is not None:
        begin = last + HOUR
    else:
        first = records.order_by("time").values_list("time", flat=True).first()
        begin = pricing.floor_local_hour(first, tz)
    written = 0
    while begin + HOUR <= newest:
        stop = min(begin + HISTORY_CHUNK, newest)
        fields = ("time", "active_import_wh", "active_export_wh")
        before = records.filter(time__lte=begin).order_by("-time").values_list(*fields).first()
        inside = list(records.filter(time__gt=begin, time__lt=stop).order_by("time").values_list(*fields))
        after = records.filter(time__gte=stop).order_by("time").values_list(*fields).first()
        rows = ([before] if before else []) + inside + ([after] if after else [])
        edges = pricing.hours_between(begin, stop)
        energy = interval_energy([r[0] for r in rows], [r[1:] for r in rows], edges)
        if not energy:
            break
        devices = _device_energy(plant, [(e.start, e.end) for e in energy])
        EnergyHour.objects.bulk_create(
            [
                EnergyHour(
                    plant=plant,
                    start=e.start,
                    purchase_mwh=e.energy_mwh[0],
                    feed_in_mwh=e.energy_mwh[1],
                    gap=e.gap,
                    **device,
                )
                for e, device in zip(energy, devices, strict=True)
            ],
            ignore_conflicts=True,
        )
        written += len(energy)
        begin = energy[-1].end
    if written:
        log.info("plant %s: %d hour(s) added to the energy history", plant.pk, written)
    return written


def purge_history(now: dt.datetime) -> int:
    """Drop hours (and dynamic prices, which only price them) older than kept: plant by plant in
    small batches (``events.retention``)."""
    plants = list(plant_model()._default_manager.order_by("pk").values_list("pk", flat=True))
    deleted = retention.purge_older_than(EnergyHour, "start", now - HISTORY_RETENTION, plants)
    return deleted + retention.purge_older_than(DynamicPrice, "start", now - HISTORY_RETENTION, plants)


# ---- costs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveTotals:
    """The plant's totals since commissioning as of the latest cycle (the live snapshot's ``totals``).

    The records hold them at every 5-minute interval end; these carry the running interval, so
    the current hour, day, ... count the energy up to the latest cycle (TAR-2).
    """

    time: dt.datetime
    active_import_wh: float
    active_export_wh: float

    def value(self, direction: str) -> float:
        return self.active_import_wh if direction == "purchase" else self.active_export_wh


def _slices_from_records(
    plant: Any,
    direction: str,
    edges: Sequence[tuple[dt.datetime, dt.datetime]],
    live: LiveTotals | None = None,
) -> list[pricing.EnergySlice]:
    """Slices straight from the recorded totals (the hour view's 5-minute bars, the running hours).

    The slice that holds the newest known totals (the latest record or ``live``) ends there: the
    running interval counts its energy so far.
    """
    start, end = edges[0][0], edges[-1][1]
    field = RECORD_FIELD[direction]
    records = plant.energy_records
    before = records.filter(time__lte=start).order_by("-time").values_list("time", field).first()
    inside = list(records.filter(time__gt=start, time__lt=end).order_by("time").values_list("time", field))
    after = records.filter(time__gte=end).order_by("time").values_list("time", field).first()
    rows = ([before] if before else []) + inside + ([after] if after else [])
    if live is not None and (not rows or live.time > rows[-1][0]) and live.time > start:
        rows.append((live.time, live.value(direction)))
    if not rows:
        return []
    newest = rows[-1][0]
    clipped = [(s, min(e, newest)) for s, e in edges if s < newest]
    energy = interval_energy([r[0] for r in rows], [(r[1],) for r in rows], clipped)
    return [pricing.EnergySlice(e.start, e.end, e.energy_mwh[0], e.gap) for e in energy]


def _running_slices(
    plant: Any, direction: str, start: dt.datetime, end: dt.datetime, live: LiveTotals | None
) -> list[pricing.EnergySlice]:
    """The hours of [start, end) that the history has not written yet, from the records (and ``live``).

    The history writes an hour once the records reach past its end (every 5 minutes), so the
    running hour, and the finished ones not yet written, come from the records here.
    """
    last = EnergyHour.objects.filter(plant=plant).order_by("-start").values_list("start", flat=True).first()
    begin = max(start, last + HOUR) if last is not None else start
    if begin >= end:
        return []
    return _slices_from_records(plant, direction, pricing.hours_between(begin, end), live)


def _slices_from_history(plant: Any, direction: str, start: dt.datetime, end: dt.datetime) -> list[pricing.EnergySlice]:
    """The hours of [start, end). A year is 8,760 rows: read through the cursor, without the ORM's
    per-value converters (they took half the time of the year view); SQLite answers naive UTC."""
    query = (
        EnergyHour.objects.filter(plant=plant, start__gte=start, start__lt=end)
        .order_by("start")
        .values_list("start", ENERGY_FIELD[direction], "gap")
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    slices = []
    for moment, mwh, gap in rows:
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        slices.append(pricing.EnergySlice(moment, moment + HOUR, mwh, bool(gap)))
    return slices


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(pricing.to_cents(amount))


def _kwh(energy: Decimal | None) -> str | None:
    return None if energy is None else str(energy.quantize(Decimal("0.001")))


def cost_report(
    plant: Any, *, period: str, day: dt.date, direction: str, hour_index: int = 0, live: LiveTotals | None = None
) -> dict[str, Any]:
    """What the overview (TAR-2) and its API show for one period: bars of energy and cost, and totals.

    The running period counts the energy so far: the hours the history holds, then the records
    (every 5 minutes) and ``live``, the totals of the latest cycle (the running 5 minutes).
    """
    tz = zone(plant)
    edges = pricing.buckets(period, day, tz, hour_index)
    start, end = edges[0][0], edges[-1][1]
    book = price_book(plant, direction, start, end)
    if period == "hour":
        slices = _slices_from_records(plant, direction, edges, live)
    else:
        slices = _slices_from_history(plant, direction, start, end)
        slices += _running_slices(plant, direction, start, end, live)
    measured_until = max((s.end for s in slices), default=None)
    bars = pricing.priced_buckets(edges, slices, book)
    has_tariff = bool(book.versions or book.points)
    known = [b for b in bars if b.energy_kwh is not None]
    energy_total = sum((b.energy_kwh for b in known if b.energy_kwh is not None), Decimal(0))
    costs = [b.cost for b in known if b.cost is not None]
    previous_day, previous_hour = pricing.shift(period, day, -1, hour_index, tz)
    next_day, next_hour = pricing.shift(period, day, 1, hour_index, tz)
    return {
        "plant": plant.pk,
        "period": period,
        "direction": direction,
        "date": pricing.period_start_day(period, day).isoformat(),
        "hour": hour_index if period == "hour" else None,
        "start": start.astimezone(tz).isoformat(),
        "end": end.astimezone(tz).isoformat(),
        "time_zone": plant.time_zone,
        "currency": contract(plant).currency,
        "tariff": has_tariff,
        "basic_charge": _money(pricing.basic_charge(book, start, end)) if book.versions else None,
        "energy_kwh": _kwh(energy_total) if known else None,
        "cost": _money(sum(costs, Decimal(0))) if has_tariff and known else None,
        "gap": any(b.gap for b in bars),
        # The energy counts up to here: the period's end, or the latest cycle while it runs.
        "measured_until": None if measured_until is None else measured_until.astimezone(tz).isoformat(),
        "previous": {"date": previous_day.isoformat(), "hour": previous_hour if period == "hour" else None},
        "next": {"date": next_day.isoformat(), "hour": next_hour if period == "hour" else None},
        "buckets": [
            {
                "start": b.start.astimezone(tz).isoformat(),
                "end": b.end.astimezone(tz).isoformat(),
                "energy_kwh": _kwh(b.energy_kwh),
                "cost": _money(b.cost),
                "gap": b.gap,
            }
            for b in bars
        ],
    }


def default_grid_data() -> dict[str, Any]:
    """What the editor starts from when a tariff has no version yet: one price on every hour."""
    return {"prices": [{"name": "", "price": "0.30"}], "grid": [[0] * 24 for _ in range(7)], "basic_charge": "0.00"}
