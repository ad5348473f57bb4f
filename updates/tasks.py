"""The periodic update check (beat: ``KSEM_UPDATE_CHECK_S``), on the ``default`` queue."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from updates import sources

log = logging.getLogger(__name__)


@shared_task(name="updates.tasks.check_for_updates", ignore_result=True)
def check_for_updates() -> dict[str, Any]:
    result = sources.check()
    if result.get("error"):
        log.warning("update check: %s", result["error"])
    return result
