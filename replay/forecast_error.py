"""The forecast's error on replayed days (issue 19 part 1): the simulator's PV (sun and seeded
clouds) and household give a plant's 5-minute log for the weeks before a day; the forecast made at
that day's local midnight from that log is compared with what the simulator then delivers.

Error: mean absolute error over the day's 15-minute slots as a share of the day's measured energy
(``energy.forecast.daily_mae_pct``). Used by ``forecast/tests/test_error.py`` and ``bench/forecast.py``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from energy import forecast as fc
from simulator.house import Household
from simulator.pv import PvArray

STEP_S = 60  # the simulator sampled once a minute, averaged per 5 minutes like the meter log
LOG_S = 300


@dataclass(frozen=True)
class DayError:
    name: str
    pv_mae_pct: float
    load_mae_pct: float
    pv_forecast_kwh: float
    pv_actual_kwh: float
    load_forecast_kwh: float
    load_actual_kwh: float

    def as_json(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "pv_mae_pct": round(self.pv_mae_pct, 1),
            "load_mae_pct": round(self.load_mae_pct, 1),
            "pv_forecast_kwh": round(self.pv_forecast_kwh, 2),
            "pv_actual_kwh": round(self.pv_actual_kwh, 2),
            "load_forecast_kwh": round(self.load_forecast_kwh, 2),
            "load_actual_kwh": round(self.load_actual_kwh, 2),
        }


def averaged(power_w: Callable[[float], float], start_s: int, end_s: int) -> list[fc.Sample]:
    """5-minute averages of ``power_w`` sampled every STEP_S, as the meter log keeps them."""
    out = []
    for log_s in range(start_s, end_s, LOG_S):
        values = [power_w(t) for t in range(log_s, log_s + LOG_S, STEP_S)]
        out.append((dt.datetime.fromtimestamp(log_s, dt.UTC), sum(values) / len(values)))
    return out


def replayed_day(
    name: str,
    *,
    history_cloudiness: float,
    day_cloudiness: float,
    day: dt.date = dt.date(2026, 6, 22),
    seed: int = 1,
    peak_w: float = 10_000.0,
    latitude_deg: float = 51.0,
    longitude_deg: float = 10.0,
    time_zone: str = "Europe/Berlin",
    base_load_w: float = 300.0,
    load_days: int = 14,
) -> DayError:
    zone = zoneinfo.ZoneInfo(time_zone)
    midnight_s = int(dt.datetime.combine(day, dt.time(), zone).timestamp())
    end_s = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).timestamp())
    history_pv = PvArray(seed, peak_w, history_cloudiness, latitude_deg, longitude_deg)
    day_pv = PvArray(seed, peak_w, day_cloudiness, latitude_deg, longitude_deg)
    house = Household(seed, base_load_w, zone)

    def house_w(t: float) -> float:
        return house.load(t).total_w

    pv_log = averaged(history_pv.power_w, midnight_s - fc.HISTORY_DAYS * 86_400, midnight_s)
    load_log = averaged(house_w, midnight_s - load_days * 86_400, midnight_s)
    site = fc.Site(latitude_deg, longitude_deg, peak_w, time_zone)
    forecast = fc.compute(dt.datetime.fromtimestamp(midnight_s, dt.UTC), site, pv_log, load_log)
    slots = [s for s in forecast.slots if s.start.timestamp() < end_s]
    pv_actual = averaged(day_pv.power_w, midnight_s, end_s)
    load_actual = averaged(house_w, midnight_s, end_s)
    pv_error = fc.mae_pct([(s.start, s.pv_w) for s in slots], pv_actual, time_zone)
    load_error = fc.mae_pct([(s.start, s.load_w) for s in slots], load_actual, time_zone)
    return DayError(
        name=name,
        pv_mae_pct=pv_error if pv_error is not None else 0.0,
        load_mae_pct=load_error if load_error is not None else 0.0,
        pv_forecast_kwh=sum(s.pv_w for s in slots) / 4000.0,
        pv_actual_kwh=sum(w for _, w in pv_actual) / 12_000.0,
        load_forecast_kwh=sum(s.load_w for s in slots) / 4000.0,
        load_actual_kwh=sum(w for _, w in load_actual) / 12_000.0,
    )


# The days the error is reported on: (name, cloudiness of the week before, cloudiness of the day).
DAYS = (
    ("clear", 0.0, 0.0),
    ("cloudy", 0.7, 0.7),
    ("cloudier than the week before", 0.0, 0.7),
)


def all_days(**kwargs: object) -> list[DayError]:
    return [
        replayed_day(name, history_cloudiness=h, day_cloudiness=d, **kwargs)  # type: ignore[arg-type]
        for name, h, d in DAYS
    ]
