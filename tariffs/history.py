"""Energy per interval from the monotonic totals since commissioning (MET-5). Pure: no Django.

The totals are recorded at the end of every 5-minute interval. The energy of an interval is the
difference of the totals at its two ends, so nothing is ever lost: when records are missing
(the worker or the meter was down), the totals on either side of the outage are still known, and
the energy in between is shared out over the missing time in proportion to its length. Every
interval that touches such a stretch is marked as a gap: its total is right, its shape is a guess.
Boundary totals are rounded to the milliwatt-hour before taking differences, so the intervals of
a day add up exactly to the day's counter difference.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

RECORD_STEP = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    start: dt.datetime
    end: dt.datetime
    energy_mwh: tuple[int, ...]  # one per counter, in the order of the points' values
    gap: bool


def _total_mwh(times: Sequence[dt.datetime], values: Sequence[Sequence[float]], moment: dt.datetime) -> list[int]:
    """The totals at ``moment`` in mWh: recorded, or interpolated between the records around it.

    Before the first record there is nothing to count: the first record's totals apply.
    """
    index = bisect_right(times, moment)
    if index == 0:
        return [round(v * 1000) for v in values[0]]
    before_t, before = times[index - 1], values[index - 1]
    if before_t == moment or index == len(times):
        return [round(v * 1000) for v in before]
    after_t, after = times[index], values[index]
    share = (moment - before_t) / (after_t - before_t)
    return [round((a + (b - a) * share) * 1000) for a, b in zip(before, after, strict=True)]


def interval_energy(
    times: Sequence[dt.datetime],
    values: Sequence[Sequence[float]],
    edges: Sequence[tuple[dt.datetime, dt.datetime]],
    step: dt.timedelta = RECORD_STEP,
) -> list[IntervalEnergy]:
    """Energy of each interval in ``edges`` from totals (Wh) recorded at ``times`` (sorted).

    Only intervals the records already reach past are returned: an interval ending after the
    last record is not over yet (or the outage is not), and one ending at or before the first
    record has nothing to count.
    """
    if not times:
        return []
    result = []
    for start, end in edges:
        if end > times[-1] or end <= times[0]:
            continue
        at_start, at_end = _total_mwh(times, values, start), _total_mwh(times, values, end)
        first = max(bisect_right(times, start) - 1, 0)
        last = bisect_left(times, end)
        gap = any(times[k + 1] - times[k] > step for k in range(first, min(last, len(times) - 1)))
        result.append(
            IntervalEnergy(
                start=start,
                end=end,
                energy_mwh=tuple(max(b - a, 0) for a, b in zip(at_start, at_end, strict=True)),
                gap=gap,
            )
        )
    return result
