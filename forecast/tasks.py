"""The forecast job: every 15 minutes, every active plant (CELERY_BEAT_SCHEDULE, queue default)."""

from __future__ import annotations

from celery import shared_task

from forecast import services


@shared_task(ignore_result=True)
def recompute_forecasts() -> int:
    return services.recompute_all()
