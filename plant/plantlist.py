"""The installer's plant list (issue 18.3): every plant a person may read, with its status at a glance.

One row per plant: the age of its last cycle, the meter (online, power at the grid connection
point), how many devices are in error, whether the grid operator limits it, how many cars charge.
All of it comes from the plants' live snapshots in Redis, read with **one** ``MGET`` for the
plants a page needs (never a query or a Redis call per row), and summarised from the stored JSON
without building the full typed snapshot (:func:`summarise`, a pure function).

Search (name, serial number, meter address, ``#id``) runs in the database. The status filters
(ok / error / stale, limits active, charging) need the snapshots: with one of them set, the
snapshots of every plant the search left are read (one ``MGET``) and filtered; without, the
database pages first and only the page's 25 snapshots are read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

import redisconn
from pages.params import BadQueryParameter, choice_param, int_param
from plant.models import Plant
from plant.services import visible_plants
from redisconn.snapshots import state_key

PER_PAGE = 25
MAX_PAGE = 100_000
MAX_QUERY_CHARS = 100
OK, ERROR, STALE = "ok", "error", "stale"
STATUSES = (OK, ERROR, STALE)
YES_NO = ("yes", "no")
# The grid operator's limit states that mean "limited" (energy.gridlimit; a failsafe too).
LIMITING_STATES = frozenset({"limited", "failsafe", "init"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PlantStatus:
    """What the list shows of one plant's latest snapshot (``None`` values: not known)."""

    status: str  # ok / error / stale
    cycle_age_s: float | None
    meter_online: bool | None
    grid_power_w: float | None
    devices_in_error: tuple[str, ...]
    limits_active: bool
    cars_charging: int

    def as_data(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "cycle_age_s": None if self.cycle_age_s is None else round(self.cycle_age_s, 1),
            "meter_online": self.meter_online,
            "grid_power_w": self.grid_power_w,
            "devices_in_error": list(self.devices_in_error),
            "limits_active": self.limits_active,
            "cars_charging": self.cars_charging,
        }


@dataclass(frozen=True, slots=True)
class Filters:
    query: str = ""
    status: str = ""
    limits: str = ""
    charging: str = ""

    @property
    def needs_snapshots(self) -> bool:
        return bool(self.status or self.limits or self.charging)

    def as_query(self) -> dict[str, str]:
        return {name: value for name, value in (("q", self.query), ("status", self.status),
                ("limits", self.limits), ("charging", self.charging)) if value}  # fmt: skip


def parse_filters(query: Mapping[str, str]) -> Filters:
    """The filters of ``?q=&status=&limits=&charging=``; a bad value is a 400 naming the parameter."""
    text = (query.get("q") or "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise BadQueryParameter("q", f"at most {MAX_QUERY_CHARS} characters")
    if "\x00" in text:
        raise BadQueryParameter("q", "must not contain NUL characters")
    return Filters(
        query=text,
        status=choice_param(query, "status", (*STATUSES, ""), ""),
        limits=choice_param(query, "limits", (*YES_NO, ""), ""),
        charging=choice_param(query, "charging", (*YES_NO, ""), ""),
    )


def page_number(query: Mapping[str, str]) -> int:
    return int_param(query, "page", low=1, high=MAX_PAGE, default=1) or 1


# --- one snapshot, summarised ----------------------------------------------------------------------


def _timestamp(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def _offline(status: Any) -> str | None:
    """The device's name when this ``DeviceStatus`` is offline (or carries an error)."""
    if not isinstance(status, dict):
        return None
    if status.get("online") is False or status.get("error"):
        return str(status.get("name") or "?")
    return None


def _limit_active(direction: Any) -> bool:
    return isinstance(direction, dict) and (
        direction.get("state") in LIMITING_STATES or direction.get("limit_w") is not None
    )


def summarise(data: Any, now: dt.datetime, max_age_s: float) -> PlantStatus:
    """The list's view of a stored snapshot (``None``: there is none). Never raises on odd data:
    a snapshot without a readable time counts as stale, a part that is not there as not known."""
    if not isinstance(data, dict):
        return PlantStatus(status=STALE, cycle_age_s=None, meter_online=None, grid_power_w=None,
                           devices_in_error=(), limits_active=False, cars_charging=0)  # fmt: skip
    stamp = _timestamp(data.get("timestamp"))
    age_s = None if stamp is None else max(0.0, (now - stamp).total_seconds())
    errors: list[str] = []
    statuses: list[Any] = [data.get("meter_status"), *(data.get("devices") or [])]
    for group in ("inverters", "wallboxes"):
        statuses += [item.get("status") for item in data.get(group) or [] if isinstance(item, dict)]
    battery = data.get("battery")
    if isinstance(battery, dict):
        statuses.append(battery.get("status"))
    for status in statuses:
        name = _offline(status)
        if name is not None and name not in errors:
            errors.append(name)
    for box in data.get("wallboxes") or []:
        if isinstance(box, dict) and box.get("error_code") and str(box.get("name")) not in errors:
            errors.append(str(box.get("name")))
    meter = data.get("meter_status")
    meter_online = meter.get("online") if isinstance(meter, dict) else None
    flow = data.get("flow")
    grid_w = flow.get("grid_power_w") if meter_online and isinstance(flow, dict) else None
    limits = data.get("grid_limits")
    limits_active = isinstance(limits, dict) and (
        _limit_active(limits.get("consume")) or _limit_active(limits.get("produce"))
    )
    charging = sum(1 for box in data.get("wallboxes") or [] if isinstance(box, dict) and box.get("state") == "charging")
    if age_s is None or age_s > max_age_s:
        status = STALE
    elif errors:
        status = ERROR
    else:
        status = OK
    return PlantStatus(
        status=status,
        cycle_age_s=age_s,
        meter_online=meter_online if isinstance(meter_online, bool) else None,
        grid_power_w=float(grid_w) if isinstance(grid_w, int | float) else None,
        devices_in_error=tuple(errors),
        limits_active=bool(limits_active),
        cars_charging=charging,
    )


def matches(status: PlantStatus, filters: Filters) -> bool:
    if filters.status and status.status != filters.status:
        return False
    if filters.limits and status.limits_active != (filters.limits == "yes"):
        return False
    return not (filters.charging and (status.cars_charging > 0) != (filters.charging == "yes"))


# --- many plants -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    plant_id: int
    name: str
    serial_number: str
    is_active: bool
    meter_host: str
    status: PlantStatus

    def as_data(self) -> dict[str, Any]:
        return {"id": self.plant_id, "name": self.name, "serial_number": self.serial_number,
                "is_active": self.is_active, "meter_host": self.meter_host, **self.status.as_data()}  # fmt: skip


PlantFacts = tuple[int, str, str, bool, str | None]


def searched(user: Any, text: str) -> QuerySet[Plant]:
    """The plants ``user`` may read that match ``text`` (name, serial number, meter address; ``#12``
    or ``12``: the plant with that id), by name."""
    plants = visible_plants(user).order_by("name", "pk")
    if not text:
        return plants
    match = Q(name__icontains=text) | Q(serial_number__icontains=text) | Q(meter__host__icontains=text)
    digits = text.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) < 19:
        match |= Q(pk=int(digits))
    return plants.filter(match)


def snapshots(plant_ids: Sequence[int]) -> list[Any]:
    """The stored snapshots of ``plant_ids`` as JSON data (``None`` where there is none or it does
    not parse), in one ``MGET``."""
    if not plant_ids:
        return []
    raws = redisconn.sync_redis().mget([state_key(pk) for pk in plant_ids])
    found: list[Any] = []
    for raw in raws:
        try:
            found.append(json.loads(raw) if raw else None)
        except ValueError:
            found.append(None)
    return found


def _rows(facts: Iterable[PlantFacts], now: dt.datetime) -> list[Row]:
    facts = list(facts)
    max_age_s = float(settings.HEALTH_MAX_AGE_S)
    return [
        Row(pk, name, serial, active, host or "", summarise(data, now, max_age_s))
        for (pk, name, serial, active, host), data in zip(facts, snapshots([f[0] for f in facts]), strict=True)
    ]


FACTS = ("pk", "name", "serial_number", "is_active", "meter__host")


def plant_page(user: Any, filters: Filters, number: int, now: dt.datetime, per_page: int = PER_PAGE) -> Page[Row]:
    """Page ``number`` of the plants ``user`` may read that pass ``filters`` (a number past the end
    gives the last page)."""
    plants = searched(user, filters.query).values_list(*FACTS)
    if not filters.needs_snapshots:
        page = Paginator(plants, per_page).get_page(number)
        page.object_list = _rows(page.object_list, now)
        return page
    rows = [row for row in _rows(plants, now) if matches(row.status, filters)]
    return Paginator(rows, per_page).get_page(number)
