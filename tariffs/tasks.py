"""Periodic jobs of the tariffs: the hourly energy history and fetching dynamic prices."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from tariffs import services
from tariffs.models import PriceSource

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def update_energy_history() -> int:
    """Add the hours the energy records now reach past, for every plant (``purge_history`` drops the old ones)."""
    written = 0
    for plant in services.plant_model()._default_manager.order_by("pk"):
        try:
            written += services.update_energy_history(plant)
        except Exception:  # one plant's bad data must not stop the others
            log.exception("plant %s: the energy history could not be updated", plant.pk)
    return written


@shared_task(ignore_result=True)
def fetch_dynamic_prices() -> int:
    """Fetch every enabled price endpoint; a failure is kept on its source and shown on the settings page."""
    stored = 0
    for source in PriceSource.objects.filter(enabled=True).select_related("plant"):
        stored += services.fetch_prices(source)
    return stored


@shared_task(ignore_result=True)
def purge_history() -> int:
    """Hourly (beat, queue default): hours and dynamic prices older than kept, in batches."""
    removed = services.purge_history(timezone.now())
    if removed:
        log.info("purged %s hours of energy history and dynamic prices", removed)
    return removed
