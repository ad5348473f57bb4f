"""PV and house-load forecast for the next 36 hours in 15-minute slots (issue 19 part 1). Pure.

No weather service: the plant forecasts from what it knows about itself.

- **PV**: a clear-sky model (solar position from time and location, the Kasten-Young air mass,
  a Meinel-style direct beam and a diffuse share, transposed onto the array's plane when tilt and
  azimuth are known, horizontal otherwise), scaled to the generator peak and then by what the last
  days actually delivered: per time-of-day band, the ratio of measured to clear-sky energy, recent
  days weighted more. With no usable history (cold start) the clear-sky curve alone.
- **House load**: per local slot of the day, the average of the same weekday over the last weeks;
  where that has no sample, the average of the same kind of day (working day or weekend), then of
  all days, then a flat base load (the history's mean, or a fixed value with no history at all).

Inputs are plain data: timestamps (timezone-aware) with watts, oldest first or in any order.
The result is a frozen :class:`Forecast`; :func:`daily_mae_pct` measures its error against what
really happened (mean absolute error per local day as a share of that day's energy).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SLOT_S = 900  # 15 minutes
HORIZON_H = 36
SLOTS = HORIZON_H * 3600 // SLOT_S
SLOTS_PER_DAY = 86_400 // SLOT_S

HISTORY_DAYS = 7  # PV: days of history the scaling looks at
DAY_WEIGHT = 0.7  # PV: a day's weight against the next more recent one
LOAD_WEEKS = 4  # load: weeks of history the profile looks at
DEFAULT_BASE_LOAD_W = 300.0  # load with no history at all

# Time-of-day bands (local hours, start inclusive) the history scaling is taken per: morning haze,
# midday, afternoon clouds and a roof's own shading differ, so one ratio per band.
BANDS: tuple[tuple[int, int], ...] = ((0, 10), (10, 14), (14, 24))
# A band's ratio needs at least this much clear-sky energy behind it (in hours at generator peak),
# else the ratio of the whole day is used, and with less than that too, the clear-sky curve (1.0).
MIN_BAND_PEAK_H = 1.0
MAX_RATIO = 1.3  # the clear-sky model may be too pessimistic, never by more than this

SOLAR_CONSTANT_W_M2 = 1353.0
STC_W_M2 = 1000.0
PERFORMANCE_RATIO = 0.85  # module temperature, wiring and inverter losses at full sun
GROUND_ALBEDO = 0.2

# Where the plant has no location stored: the middle of its time zone's main country.
TIME_ZONE_LOCATIONS: Mapping[str, tuple[float, float]] = {
    "Europe/Berlin": (51.0, 10.0),
    "Europe/Vienna": (47.6, 14.1),
    "Europe/Zurich": (46.8, 8.2),
    "Europe/Amsterdam": (52.2, 5.3),
    "Europe/Brussels": (50.6, 4.6),
    "Europe/Luxembourg": (49.8, 6.1),
    "Europe/Paris": (46.6, 2.4),
    "Europe/Rome": (42.8, 12.5),
    "Europe/Madrid": (40.4, -3.7),
    "Europe/Lisbon": (39.6, -8.0),
    "Europe/London": (52.5, -1.5),
    "Europe/Dublin": (53.4, -8.0),
    "Europe/Copenhagen": (56.0, 10.0),
    "Europe/Oslo": (61.0, 9.0),
    "Europe/Stockholm": (60.0, 15.0),
    "Europe/Helsinki": (62.0, 26.0),
    "Europe/Prague": (49.8, 15.5),
    "Europe/Warsaw": (52.0, 19.0),
    "Europe/Budapest": (47.2, 19.5),
    "Europe/Athens": (39.0, 22.0),
}
DEFAULT_LOCATION = (51.0, 10.0)  # the middle of Germany

Sample = tuple[dt.datetime, float]


def default_location(time_zone: str) -> tuple[float, float]:
    """Latitude and longitude typical of a time zone (the middle of Germany when unknown)."""
    return TIME_ZONE_LOCATIONS.get(time_zone, DEFAULT_LOCATION)


@dataclass(frozen=True, slots=True)
class Site:
    """What the forecast knows of the plant. Azimuth in degrees from north (180 = south)."""

    latitude_deg: float
    longitude_deg: float
    peak_w: float
    time_zone: str = "Europe/Berlin"
    tilt_deg: float | None = None
    azimuth_deg: float | None = None
    base_load_w: float = DEFAULT_BASE_LOAD_W

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ValueError(f"latitude must be between -90 and 90 degrees, got {self.latitude_deg}")
        if not -180.0 <= self.longitude_deg <= 180.0:
            raise ValueError(f"longitude must be between -180 and 180 degrees, got {self.longitude_deg}")
        if not self.peak_w >= 0.0 or math.isinf(self.peak_w):
            raise ValueError(f"generator peak must be 0 W or more, got {self.peak_w}")
        if self.tilt_deg is not None and not 0.0 <= self.tilt_deg <= 90.0:
            raise ValueError(f"tilt must be between 0 and 90 degrees, got {self.tilt_deg}")
        if self.azimuth_deg is not None and not 0.0 <= self.azimuth_deg <= 360.0:
            raise ValueError(f"azimuth must be between 0 and 360 degrees, got {self.azimuth_deg}")
        zoneinfo.ZoneInfo(self.time_zone)  # raises for an unknown zone


@dataclass(frozen=True, slots=True)
class Slot:
    start: dt.datetime  # UTC
    pv_w: float  # average over the slot
    load_w: float


@dataclass(frozen=True, slots=True)
class Forecast:
    computed_at: dt.datetime
    slots: tuple[Slot, ...]
    pv_source: str  # "history" or "clear-sky"
    load_source: str  # "history" or "base load"
    pv_ratios: tuple[float, ...] = field(default=())  # per band of BANDS

    def to_json(self) -> dict[str, Any]:
        return {
            "computed_at": self.computed_at.isoformat(),
            "slot_s": SLOT_S,
            "pv_source": self.pv_source,
            "load_source": self.load_source,
            "pv_ratios": [round(r, 4) for r in self.pv_ratios],
            "slots": [
                {"start": s.start.isoformat(), "pv_w": round(s.pv_w, 1), "load_w": round(s.load_w, 1)}
                for s in self.slots
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Forecast:
        return cls(
            computed_at=dt.datetime.fromisoformat(data["computed_at"]),
            slots=tuple(
                Slot(dt.datetime.fromisoformat(s["start"]), float(s["pv_w"]), float(s["load_w"])) for s in data["slots"]
            ),
            pv_source=str(data.get("pv_source", "")),
            load_source=str(data.get("load_source", "")),
            pv_ratios=tuple(float(r) for r in data.get("pv_ratios", ())),
        )

    def pv_energy_wh(self) -> float:
        return sum(s.pv_w for s in self.slots) * SLOT_S / 3600.0

    def load_energy_wh(self) -> float:
        return sum(s.load_w for s in self.slots) * SLOT_S / 3600.0


# ---- solar geometry ------------------------------------------------------------------------------


def solar_position(t_s: float, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
    """Cosine of the solar zenith angle and the sun's azimuth (radians from north, clockwise).

    Spencer's series for the declination and the equation of time (NOAA's general solar position
    formulas): within a few tenths of a degree, plenty for a PV curve.
    """
    day = dt.datetime.fromtimestamp(t_s, dt.UTC)
    year_start = dt.datetime(day.year, 1, 1, tzinfo=dt.UTC).timestamp()
    days_in_year = 366 if day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0) else 365
    hours = (t_s % 86_400) / 3600.0
    gamma = 2 * math.pi / days_in_year * ((t_s - year_start) // 86_400 + (hours - 12) / 24)
    eqtime_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = hours * 60 + eqtime_min + 4 * longitude_deg
    hour_angle = math.radians(true_solar_min / 4 - 180)
    lat = math.radians(latitude_deg)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    cos_zenith = max(-1.0, min(1.0, cos_zenith))
    azimuth_from_south = math.atan2(
        math.sin(hour_angle), math.cos(hour_angle) * math.sin(lat) - math.tan(decl) * math.cos(lat)
    )
    return cos_zenith, (azimuth_from_south + math.pi) % (2 * math.pi)


def clear_sky_w(t_s: float, site: Site) -> float:
    """What the array delivers at ``t_s`` under a clear sky, in W (0 with the sun down)."""
    cos_z, sun_az = solar_position(t_s, site.latitude_deg, site.longitude_deg)
    if cos_z <= 0.0 or site.peak_w <= 0.0:
        return 0.0
    zenith_deg = math.degrees(math.acos(cos_z))
    air_mass = 1.0 / (cos_z + 0.50572 * (96.07995 - zenith_deg) ** -1.6364)
    dni = SOLAR_CONSTANT_W_M2 * 0.7 ** (air_mass**0.678)
    dhi = 0.1 * dni
    ghi = dni * cos_z + dhi
    if site.tilt_deg is None:
        plane = ghi
    else:
        tilt = math.radians(site.tilt_deg)
        panel_az = math.radians(site.azimuth_deg if site.azimuth_deg is not None else 180.0)
        sin_z = math.sqrt(max(0.0, 1.0 - cos_z * cos_z))
        cos_aoi = cos_z * math.cos(tilt) + sin_z * math.sin(tilt) * math.cos(sun_az - panel_az)
        plane = (
            dni * max(0.0, cos_aoi) + dhi * (1 + math.cos(tilt)) / 2 + ghi * GROUND_ALBEDO * (1 - math.cos(tilt)) / 2
        )
    return min(site.peak_w, site.peak_w * PERFORMANCE_RATIO * plane / STC_W_M2)


def slot_clear_sky_w(slot_start_s: float, site: Site) -> float:
    """The clear-sky average of a slot (its middle)."""
    return clear_sky_w(slot_start_s + SLOT_S / 2, site)


# ---- helpers -------------------------------------------------------------------------------------


def slot_floor(t_s: float) -> float:
    return math.floor(t_s / SLOT_S) * SLOT_S


def _band(local_hour: int) -> int:
    for index, (start, end) in enumerate(BANDS):
        if start <= local_hour < end:
            return index
    return len(BANDS) - 1


def _slot_means(samples: Iterable[Sample], since_s: float, until_s: float) -> dict[float, float]:
    """Mean watts per slot start (UTC seconds), samples outside [since, until) and non-finite ones dropped."""
    sums: dict[float, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for time, watts in samples:
        if watts is None or not math.isfinite(watts):
            continue
        t_s = time.timestamp()
        if since_s <= t_s < until_s:
            acc = sums[slot_floor(t_s)]
            acc[0] += watts
            acc[1] += 1
    return {start: acc[0] / acc[1] for start, acc in sums.items()}


# ---- PV ------------------------------------------------------------------------------------------


def pv_ratios(site: Site, history: Iterable[Sample], now: dt.datetime) -> tuple[float, ...] | None:
    """Measured over clear-sky energy per band of :data:`BANDS`; None with too little history."""
    if site.peak_w <= 0.0:
        return None
    zone = zoneinfo.ZoneInfo(site.time_zone)
    now_s = now.timestamp()
    slots = _slot_means(history, now_s - HISTORY_DAYS * 86_400, slot_floor(now_s))
    measured = [0.0] * len(BANDS)
    clear = [0.0] * len(BANDS)
    for start_s, watts in slots.items():
        sky = slot_clear_sky_w(start_s, site)
        if sky < 0.02 * site.peak_w:  # dawn and dusk: too little to tell anything
            continue
        age_days = (now_s - start_s) // 86_400
        weight = DAY_WEIGHT**age_days
        band = _band(dt.datetime.fromtimestamp(start_s, zone).hour)
        measured[band] += weight * max(0.0, watts)
        clear[band] += weight * sky
    min_wh = MIN_BAND_PEAK_H * site.peak_w * 3600.0 / SLOT_S  # in W·slot units, like the sums
    total_clear = sum(clear)
    if total_clear < min_wh:
        return None
    overall = min(MAX_RATIO, sum(measured) / total_clear)
    return tuple(min(MAX_RATIO, m / c) if c >= min_wh else overall for m, c in zip(measured, clear, strict=True))


# ---- load ----------------------------------------------------------------------------------------


def _load_profile(
    site: Site, history: Iterable[Sample], now: dt.datetime
) -> tuple[Callable[[int, int], float] | None, float | None]:
    """A function (local weekday, slot of day) -> W, and the history's mean (None: no history)."""
    zone = zoneinfo.ZoneInfo(site.time_zone)
    now_s = now.timestamp()
    slots = _slot_means(history, now_s - LOAD_WEEKS * 7 * 86_400, now_s)
    by_day: dict[tuple[int, int], list[float]] = defaultdict(list)
    by_kind: dict[tuple[bool, int], list[float]] = defaultdict(list)
    by_slot: dict[int, list[float]] = defaultdict(list)
    for start_s, watts in slots.items():
        local = dt.datetime.fromtimestamp(start_s, zone)
        index = (local.hour * 3600 + local.minute * 60) // SLOT_S
        weekday = local.weekday()
        value = max(0.0, watts)
        by_day[(weekday, index)].append(value)
        by_kind[(weekday >= 5, index)].append(value)
        by_slot[index].append(value)
    if not slots:
        return None, None
    mean_all = sum(max(0.0, w) for w in slots.values()) / len(slots)

    def profile(weekday: int, index: int) -> float:
        for values in (by_day.get((weekday, index)), by_kind.get((weekday >= 5, index)), by_slot.get(index)):
            if values:
                return sum(values) / len(values)
        return mean_all

    return profile, mean_all


# ---- the forecast --------------------------------------------------------------------------------


def compute(
    now: dt.datetime,
    site: Site,
    pv_history: Iterable[Sample] = (),
    load_history: Iterable[Sample] = (),
    *,
    slots: int = SLOTS,
) -> Forecast:
    """The forecast from the slot ``now`` falls in, ``slots`` slots of 15 minutes (36 hours)."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    zone = zoneinfo.ZoneInfo(site.time_zone)
    ratios = pv_ratios(site, pv_history, now)
    profile, _mean = _load_profile(site, load_history, now)
    first_s = slot_floor(now.timestamp())
    out = []
    for n in range(slots):
        start_s = first_s + n * SLOT_S
        start = dt.datetime.fromtimestamp(start_s, dt.UTC)
        local = start.astimezone(zone)
        sky = slot_clear_sky_w(start_s, site)
        pv_w = sky if ratios is None else sky * ratios[_band(local.hour)]
        pv_w = min(site.peak_w, max(0.0, pv_w))
        if profile is None:
            load_w = site.base_load_w
        else:
            load_w = profile(local.weekday(), (local.hour * 3600 + local.minute * 60) // SLOT_S)
        out.append(Slot(start, pv_w, load_w))
    return Forecast(
        computed_at=now.astimezone(dt.UTC),
        slots=tuple(out),
        pv_source="clear-sky" if ratios is None else "history",
        load_source="base load" if profile is None else "history",
        pv_ratios=ratios or (),
    )


# ---- error ---------------------------------------------------------------------------------------


def daily_mae_pct(
    predicted: Sequence[Sample], actual: Iterable[Sample], time_zone: str = "Europe/Berlin"
) -> dict[dt.date, float]:
    """Per local day: the mean absolute error of the predicted slots against the measured slot
    averages, as a percentage of the day's measured energy (slots with no measurement skipped).

    ``predicted``: (slot start, W) per 15-minute slot; ``actual``: samples of any spacing, averaged
    per slot. A day that measured no energy is left out (nothing to be a share of).
    """
    zone = zoneinfo.ZoneInfo(time_zone)
    if not predicted:
        return {}
    first_s = min(t.timestamp() for t, _ in predicted)
    last_s = max(t.timestamp() for t, _ in predicted) + SLOT_S
    measured = _slot_means(actual, first_s, last_s)
    error: dict[dt.date, float] = defaultdict(float)
    energy: dict[dt.date, float] = defaultdict(float)
    for time, watts in predicted:
        start_s = slot_floor(time.timestamp())
        if start_s not in measured:
            continue
        day = dt.datetime.fromtimestamp(start_s, zone).date()
        error[day] += abs(watts - measured[start_s])
        energy[day] += max(0.0, measured[start_s])
    return {day: 100.0 * error[day] / energy[day] for day in sorted(energy) if energy[day] > 0.0}


def mae_pct(predicted: Sequence[Sample], actual: Iterable[Sample], time_zone: str = "Europe/Berlin") -> float | None:
    """The mean of :func:`daily_mae_pct` over its days (None when no day measured energy)."""
    days = daily_mae_pct(predicted, actual, time_zone)
    return sum(days.values()) / len(days) if days else None
