"""PV generation: the sun's elevation over the day and year, and passing clouds.

Pure functions of simulated time (seconds since the Unix epoch, UTC) and the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulator import noise

_J2000_S = 946_728_000.0  # 2000-01-01T12:00:00Z, the epoch of the solar formulas below
_CLOUD_WINDOW_S = 120.0  # each window gets at most one cloud
_CLOUD_MIN_S = 20.0
_CLOUD_MAX_S = 240.0
_CLOUD_EDGE_S = 4.0  # a cloud edge crosses the array in a few seconds: a step, not a slope
_CLOUD_LOOKBACK = math.ceil((_CLOUD_WINDOW_S + _CLOUD_MAX_S) / _CLOUD_WINDOW_S)
_WEATHER_PERIOD_S = 3 * 3600.0
_HAZE_PERIOD_S = 86_400.0
_SYSTEM_EFFICIENCY = 0.92  # inverter and wiring losses at full sun


def sun_elevation_sin(t_s: float, latitude_deg: float, longitude_deg: float) -> float:
    """Sine of the sun's elevation (negative below the horizon).

    The low-precision solar position of the Astronomical Almanac (about 0.01 degree until
    2050): plenty for a PV curve whose sunrise and sunset move with the seasons.
    """
    days = (t_s - _J2000_S) / 86_400.0
    mean_longitude = math.radians((280.460 + 0.9856474 * days) % 360.0)
    anomaly = math.radians((357.528 + 0.9856003 * days) % 360.0)
    ecliptic = mean_longitude + math.radians(1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly))
    obliquity = math.radians(23.439 - 0.0000004 * days)
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic))
    right_ascension = math.atan2(math.cos(obliquity) * math.sin(ecliptic), math.cos(ecliptic))
    sidereal = math.radians((280.46061837 + 360.98564736629 * days) % 360.0)
    hour_angle = sidereal + math.radians(longitude_deg) - right_ascension
    latitude = math.radians(latitude_deg)
    return math.sin(latitude) * math.sin(declination) + math.cos(latitude) * math.cos(declination) * math.cos(
        hour_angle
    )


@dataclass(slots=True)
class PvArray:
    """Clear-sky output of a PV array, dimmed by seeded passing clouds."""

    seed: int
    peak_w: float
    cloudiness: float
    latitude_deg: float
    longitude_deg: float
    _cloud_cache: dict[int, tuple[float, float, float] | None] = field(default_factory=dict, repr=False)
    # The last power computed: the plant evaluates the same instant several times in a row.
    _last: tuple[float, float] | None = field(default=None, init=False, repr=False, compare=False)

    def power_w(self, t_s: float) -> float:
        last = self._last
        if last is not None and last[0] == t_s:
            return last[1]
        power_w = self._power_w(t_s)
        self._last = (t_s, power_w)
        return power_w

    def _power_w(self, t_s: float) -> float:
        elevation_sin = sun_elevation_sin(t_s, self.latitude_deg, self.longitude_deg)
        if elevation_sin <= 0.0 or self.peak_w <= 0.0:
            return 0.0
        # Low sun crosses more air: the exponent above 1 flattens mornings and evenings.
        clear_sky_w = self.peak_w * _SYSTEM_EFFICIENCY * elevation_sin**1.3
        haze = 0.9 + 0.1 * noise.smooth(self.seed, _HAZE, t_s, _HAZE_PERIOD_S)
        return clear_sky_w * min(haze, 1.0) * (1.0 - self.cloud_shade(t_s))

    def cloud_shade(self, t_s: float) -> float:
        """Fraction of the clear-sky power a cloud takes away at ``t_s`` (0 = none)."""
        window = math.floor(t_s / _CLOUD_WINDOW_S)
        shade = 0.0
        for index in range(window - _CLOUD_LOOKBACK, window + 1):
            cloud = self._cloud(index)
            if cloud is None:
                continue
            start_s, end_s, depth = cloud
            if start_s <= t_s < end_s:
                edge = min(1.0, (t_s - start_s) / _CLOUD_EDGE_S, (end_s - t_s) / _CLOUD_EDGE_S)
                shade = max(shade, depth * edge)
        return shade

    def _cloud(self, window: int) -> tuple[float, float, float] | None:
        if window not in self._cloud_cache:
            if len(self._cloud_cache) > 4096:
                self._cloud_cache.clear()
            self._cloud_cache[window] = self._draw_cloud(window)
        return self._cloud_cache[window]

    def _draw_cloud(self, window: int) -> tuple[float, float, float] | None:
        window_start_s = window * _CLOUD_WINDOW_S
        # The weather changes slowly: some hours are cloudier than others.
        weather = 0.5 + 0.5 * noise.smooth(self.seed, _WEATHER, window_start_s, _WEATHER_PERIOD_S)
        chance = self.cloudiness * (0.3 + 0.7 * weather)
        if noise.unit(self.seed, _CLOUD, window, 0) >= chance:
            return None
        start_s = window_start_s + noise.unit(self.seed, _CLOUD, window, 1) * _CLOUD_WINDOW_S
        duration_s = _CLOUD_MIN_S + noise.unit(self.seed, _CLOUD, window, 2) * (_CLOUD_MAX_S - _CLOUD_MIN_S)
        depth = 0.3 + 0.5 * noise.unit(self.seed, _CLOUD, window, 3)
        return start_s, start_s + duration_s, depth


_CLOUD = noise.channel_id("pv.cloud")
_WEATHER = noise.channel_id("pv.weather")
_HAZE = noise.channel_id("pv.haze")
