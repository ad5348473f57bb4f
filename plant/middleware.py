"""Pages show times in the plant's time zone (issue 13.9).

The site keeps UTC (``TIME_ZONE``) and the API answers in UTC; for a page, Django renders every
date and time in the zone activated here: the time zone of the plant the page is about, the one
its energy history and tariffs already use. The layout names it in the footer and hands it to the
page scripts, so the live times agree with the server-rendered ones.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from plant.services import current_plant

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


class PlantTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = self._zone(request)
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def _zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
        if request.path.startswith(API_PREFIX) or not request.user.is_authenticated:
            return None
        try:
            plant = current_plant(request)
        except Exception:  # noqa: BLE001 - a bad ?plant= is the view's to refuse (400), not ours
            return None
        if plant is None:
            return None
        try:
            return zoneinfo.ZoneInfo(plant.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            log.warning("plant %s has an unknown time zone %r; pages show UTC", plant.pk, plant.time_zone)
            return None
