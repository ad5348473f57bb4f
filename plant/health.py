"""What /api/health reports: each part of the stack and how fresh its data is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from plant import live, supervision
from plant.models import Plant
from updates.version import VERSION


def _age_s(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return (now - moment).total_seconds() if moment else None


def check_health() -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy when every part answers and no age exceeds the limit."""
    limit = settings.HEALTH_MAX_AGE_S
    now = timezone.now()
    report: dict[str, Any] = {"version": VERSION, "max_age_s": limit}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        plants = list(Plant.objects.filter(is_active=True).order_by("pk").values_list("pk", "name"))
        report["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - the report names whatever failed
        report["database"] = {"ok": False, "error": str(exc)}
        plants = []
    try:
        tick_age = live.last_tick_age_s()
        report["redis"] = {"ok": True}
        report["beat"] = {"ok": tick_age is not None and tick_age <= limit, "last_tick_age_s": tick_age}
        states = {pk: live.read_state(pk) for pk, _ in plants}
    except Exception as exc:  # noqa: BLE001
        report["redis"] = {"ok": False, "error": str(exc)}
        report["beat"] = {"ok": False, "last_tick_age_s": None}
        states = {}
    report["plants"] = []
    for pk, name in plants:
        state = states.get(pk)
        cycle_age = _age_s(state.timestamp, now) if state else None
        meter = state.meter_status if state else None
        sample_age = _age_s(meter.last_seen if meter else None, now)
        offline_since = meter.offline_since if meter else None
        report["plants"].append(
            {
                "id": pk,
                "name": name,
                "cycle": {
                    "ok": cycle_age is not None and cycle_age <= limit,
                    "age_s": cycle_age,
                    "duration_s": state.cycle_duration_s if state else None,
                },
                "meter": {
                    "ok": bool(meter and meter.online) and sample_age is not None and sample_age <= limit,
                    "online": bool(meter and meter.online),
                    "last_sample_age_s": sample_age,
                    "offline_since": offline_since.isoformat() if offline_since else None,
                    "error": meter.error if meter else "no cycle has run yet",
                },
            }
        )
    report["processes"] = supervision.process_report(settings.VAR_DIR)
    parts = [report["database"], report["redis"], report["beat"], report["processes"]]
    parts += [p[k] for p in report["plants"] for k in ("cycle", "meter")]
    healthy = all(part["ok"] for part in parts)
    report["status"] = "ok" if healthy else "error"
    return healthy, report
