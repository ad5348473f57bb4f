"""The plant's forecast: what it is computed from, computing and storing it, reading the latest.

The arithmetic is ``energy.forecast`` (pure); this module gathers its inputs from the database:
the plant's location (or its time zone's typical one), the generator peak (the inverters'
maximum AC output added up), the orientation if known, PV and house power from the 5-minute log
(14 days) and house energy per hour from the tariffs' history for the weeks before that.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.utils import timezone

from energy import forecast as fc
from forecast.models import StoredForecast
from inverters.models import Inverter
from meter.models import MeterLog
from tariffs.models import EnergyHour

log = logging.getLogger(__name__)

# A stored forecast older than this is recomputed when asked for (the job runs every 15 minutes).
STALE_AFTER = dt.timedelta(minutes=30)
LOCATION_FIELDS = ("latitude_deg", "longitude_deg", "pv_tilt_deg", "pv_azimuth_deg")


def plant_model() -> Any:
    return apps.get_model("plant", "Plant")


@dataclass(frozen=True)
class Inputs:
    site: fc.Site
    location_source: str  # "plant" (stored) or "time zone" (typical for it)

    def as_json(self) -> dict[str, Any]:
        return {
            "latitude_deg": self.site.latitude_deg,
            "longitude_deg": self.site.longitude_deg,
            "location_source": self.location_source,
            "time_zone": self.site.time_zone,
            "generator_peak_w": self.site.peak_w,
            "tilt_deg": self.site.tilt_deg,
            "azimuth_deg": self.site.azimuth_deg,
        }


def generator_peak_w(plant_id: int) -> float:
    """The inverters' maximum AC output added up; battery inverters carry no PV."""
    rows = Inverter.objects.filter(plant_id=plant_id).exclude(category=Inverter.Category.BATTERY)
    return float(sum(rows.values_list("max_ac_w", flat=True)))


def inputs_of(plant: Any) -> Inputs:
    if plant.latitude_deg is not None and plant.longitude_deg is not None:
        lat, lon, source = plant.latitude_deg, plant.longitude_deg, "plant"
    else:
        (lat, lon), source = fc.default_location(plant.time_zone), "time zone"
    site = fc.Site(
        latitude_deg=lat,
        longitude_deg=lon,
        peak_w=generator_peak_w(plant.pk),
        time_zone=plant.time_zone,
        tilt_deg=plant.pv_tilt_deg,
        azimuth_deg=plant.pv_azimuth_deg if plant.pv_tilt_deg is not None else None,
    )
    return Inputs(site, source)


def history_of(plant_id: int, now: dt.datetime) -> tuple[list[fc.Sample], list[fc.Sample]]:
    """PV and house samples (start, W): the 5-minute log, before it the hourly house energy."""
    load_since = now - dt.timedelta(weeks=fc.LOAD_WEEKS)
    rows = list(
        MeterLog.objects.filter(plant_id=plant_id, start__gte=load_since, start__lt=now, gap=False)
        .order_by("start")
        .values_list("start", "pv_power_w", "house_power_w", "curtailed")
    )
    pv_since = now - dt.timedelta(days=fc.HISTORY_DAYS)
    # Curtailed intervals tell what the limit let through, not what the sun offered: left out, so
    # the history scaling learns the available PV (the weakness of a plant curtailed every noon).
    pv = [(start, w) for start, w, _, curtailed in rows if w is not None and start >= pv_since and not curtailed]
    load = [(start, w) for start, _, w, _ in rows if w is not None]
    first_logged = rows[0][0] if rows else now
    hours = EnergyHour.objects.filter(
        plant_id=plant_id, start__gte=load_since, start__lt=first_logged - dt.timedelta(hours=1), gap=False
    ).values_list("start", "house_mwh")
    older: list[fc.Sample] = []
    for start, mwh in hours:
        if mwh is None:
            continue
        watts = mwh / 1000.0  # Wh in one hour = mean W
        older.extend((start + dt.timedelta(minutes=15 * q), watts) for q in range(4))
    return pv, older + load


def compute(plant: Any, now: dt.datetime | None = None) -> tuple[fc.Forecast, Inputs]:
    now = now or timezone.now()
    inputs = inputs_of(plant)
    pv, load = history_of(plant.pk, now)
    return fc.compute(now, inputs.site, pv, load), inputs


def recompute(plant: Any, now: dt.datetime | None = None) -> StoredForecast:
    """Compute the plant's forecast and store it in place of the previous one."""
    forecast, inputs = compute(plant, now)
    row, _ = StoredForecast.objects.update_or_create(
        plant=plant,
        defaults={"computed_at": forecast.computed_at, "data": forecast.to_json(), "inputs": inputs.as_json()},
    )
    return row


def recompute_all(now: dt.datetime | None = None) -> int:
    """Every active plant's forecast; a plant whose data cannot be used is logged and skipped."""
    done = 0
    for plant in plant_model()._default_manager.filter(is_active=True).order_by("pk"):
        try:
            recompute(plant, now)
        except Exception:  # one plant's bad data must not stop the others
            log.exception("plant %s: the forecast could not be computed", plant.pk)
        else:
            done += 1
    return done


def latest(plant_id: int) -> fc.Forecast | None:
    """The stored forecast of the plant (None before the first run)."""
    row = StoredForecast.objects.filter(plant_id=plant_id).first()
    return fc.Forecast.from_json(row.data) if row else None


def latest_row(plant: Any, now: dt.datetime | None = None) -> StoredForecast:
    """The stored forecast, recomputed first when there is none yet or it is stale."""
    now = now or timezone.now()
    row = StoredForecast.objects.filter(plant=plant).first()
    if row is None or now - row.computed_at > STALE_AFTER:
        row = recompute(plant, now)
    return row


def save_location(plant: Any, **values: float | None) -> StoredForecast:
    """Store the location and orientation (validated by the caller's form or serializer) and
    recompute, so the page and the API show the effect at once."""
    for name in LOCATION_FIELDS:
        if name in values:
            setattr(plant, name, values[name])
    plant.full_clean(validate_unique=False, validate_constraints=False)
    plant.save(update_fields=[name for name in LOCATION_FIELDS if name in values])
    return recompute(plant)


def body(row: StoredForecast) -> dict[str, Any]:
    """The stored forecast as the API and the dashboard get it."""
    return {"plant_id": row.plant_id, **row.data, "inputs": row.inputs}
