"""Cars plugged into the wallbox during the scenario's daily sessions."""

from __future__ import annotations

import datetime as dt

from simulator import noise
from simulator.house import Phases
from simulator.scenario import ChargingSession, WallboxConfig

SessionKey = tuple[int, int]  # (local date ordinal, session number): one car visit


def plugged_session(wallbox: WallboxConfig, zone: dt.tzinfo, t_s: float) -> tuple[SessionKey, ChargingSession] | None:
    """The session a car is plugged in for at ``t_s``, if any; sessions are in local time."""
    local = dt.datetime.fromtimestamp(t_s, zone)
    for number, session in enumerate(wallbox.sessions):
        if session.start <= local.time() < session.end:
            return (local.date().toordinal(), number), session
    return None


def energy_needed_wh(seed: int, session: ChargingSession, key: SessionKey) -> float:
    """What the car takes until it reaches its target; a seeded arrival SoC unless configured."""
    arrival_pct = session.arrival_soc_pct
    if arrival_pct is None:
        arrival_pct = 20.0 + 40.0 * noise.unit(seed, _ARRIVAL, key[0], key[1])
    return session.car_capacity_wh * max(session.target_soc_pct - arrival_pct, 0.0) / 100.0


def phase_split(wallbox: WallboxConfig | None, total_w: float) -> Phases:
    if wallbox is not None and wallbox.phases == 1:
        return (total_w, 0.0, 0.0)
    return (total_w / 3.0, total_w / 3.0, total_w / 3.0)


_ARRIVAL = noise.channel_id("wallbox.car")
