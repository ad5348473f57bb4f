"""SPINE data-type helpers: ScaledNumber and ISO 8601 durations (relative time periods)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

INT64_MAX = 2**63 - 1


class BadValue(ValueError):
    """A SPINE value of the wrong shape; the text names the problem."""


def scaled_number(value: float) -> dict[str, int]:
    """``value`` as a SPINE ScaledNumber with at most 4 decimals (as eebus-go); 0 is {0, 0}."""
    if not math.isfinite(value):
        raise BadValue("not a finite number")
    number = round(value * 10_000)
    if number == 0:
        return {"number": 0, "scale": 0}
    scale = -4
    while scale < 0 and number % 10 == 0:
        number //= 10
        scale += 1
    if abs(number) > INT64_MAX:
        raise BadValue("number out of range")
    return {"number": int(number), "scale": scale}


def parse_scaled_number(obj: Any) -> float:
    """The value of a ScaledNumber object; ValueError naming the problem if it is not one."""
    if not isinstance(obj, dict):
        raise BadValue("scaledNumber must be an object")
    number = obj.get("number")
    scale = obj.get("scale", 0)
    if scale is None:
        scale = 0
    if isinstance(number, bool) or not isinstance(number, int):
        raise BadValue("scaledNumber.number must be an integer")
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise BadValue("scaledNumber.scale must be an integer")
    if not -INT64_MAX - 1 <= number <= INT64_MAX:
        raise BadValue("scaledNumber.number out of int64 range")
    if not -128 <= scale <= 127:
        raise BadValue("scaledNumber.scale out of int8 range")
    result = float(number * 10**scale) if scale >= 0 else number / 10**-scale
    if not math.isfinite(result):
        raise BadValue("scaledNumber out of range")
    return result


_DURATION = re.compile(
    r"^(?P<sign>-)?P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$"
)
MAX_DURATION_S = 100 * 365 * 86400.0


def format_duration(seconds: float) -> str:
    """ISO 8601 duration as spine-go writes it: ``PT1H2M3S``; zero is ``PT0S``; ms precision."""
    if not math.isfinite(seconds):
        raise BadValue("not a finite duration")
    sign = "-" if seconds < 0 else ""
    millis = round(abs(seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    out = f"{sign}PT"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or ms or not (hours or minutes):
        out += f"{secs}.{ms:03d}".rstrip("0").rstrip(".") + "S" if ms else f"{secs}S"
    return out


def parse_duration(text: Any) -> float:
    """Seconds of an ISO 8601 duration (weeks, days, hours, minutes, seconds; no years or months,
    whose length is not fixed)."""
    if not isinstance(text, str) or len(text) > 64:
        raise BadValue("duration must be an ISO 8601 string")
    match = _DURATION.match(text.strip())
    if match is None:
        raise BadValue(f"not an ISO 8601 duration: {text[:40]!r}")
    parts = match.groupdict()
    total = (
        int(parts["w"] or 0) * 7 * 86400
        + int(parts["d"] or 0) * 86400
        + int(parts["h"] or 0) * 3600
        + int(parts["m"] or 0) * 60
        + float((parts["s"] or "0").replace(",", "."))
    )
    if total > MAX_DURATION_S:
        raise BadValue("duration too long")
    return -total if parts["sign"] else total


def parse_end_time(text: Any, now: datetime | None = None) -> float:
    """Remaining seconds of a ``timePeriod.endTime``: a relative duration (what spine-go sends) or
    an absolute UTC time (accepted too). Never negative."""
    if isinstance(text, str) and text.strip().lstrip("-").startswith("P"):
        return max(0.0, parse_duration(text))
    if not isinstance(text, str) or len(text) > 64:
        raise BadValue("endTime must be a duration or a date-time string")
    try:
        end = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"endTime is neither a duration nor a date-time: {text[:40]!r}") from None
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, min((end - now).total_seconds(), MAX_DURATION_S))


def utc_timestamp(when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"
