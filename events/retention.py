"""How the retention jobs delete old rows: in small batches, one short transaction each.

Every per-plant time series (the 5-minute log and energy records in meter/, the hourly energy
and dynamic prices in tariffs/, the event log here) is trimmed by a periodic job on the
``default`` queue, never in the cycle. A job deletes at most ``batch`` rows per statement,
selected through the table's ``(plant, time)`` index one plant at a time, and commits each batch
on its own, so no delete holds locks for long: on PostgreSQL the cycle's inserts of new rows
never wait for it, and on SQLite (one writer at a time) the cycle's write waits for at most one
batch (a few milliseconds). docs/operations.md, "Data kept", has the figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

BATCH = 1000


def delete_in_batches(rows: models.QuerySet[Any], batch: int = BATCH) -> int:
    """Delete ``rows`` (a filtered queryset) ``batch`` at a time; returns how many went."""
    model = rows.model
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(rows.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                return removed
            count, _ = model._default_manager.filter(pk__in=ids).delete()
        removed += count
        if len(ids) < batch:
            return removed


def purge_older_than(
    model: type[models.Model], time_field: str, cutoff: dt.datetime, plant_ids: Iterable[int | None], batch: int = BATCH
) -> int:
    """Rows of ``model`` older than ``cutoff`` (``time_field`` < cutoff), plant by plant, in batches:
    each plant's rows are found through the ``(plant, time)`` index."""
    removed = 0
    for plant_id in plant_ids:
        rows = model._default_manager.filter(**{"plant_id": plant_id, f"{time_field}__lt": cutoff})
        removed += delete_in_batches(rows, batch)
    return removed
