"""What of one cycle's snapshot is an event: a device going offline or coming back, a wallbox
reporting a new error code, curtailment beginning. Pure: the worker keeps one ``CycleWatch`` per
plant beside its runtime, hands it each snapshot and records what it returns, so the 1 s cycle
writes to the database only when something changed (an outage is one event, not one a second).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from energy.state import DeviceStatus, InverterState, PlantState
from events.models import CURTAILMENT, DEVICE_OFFLINE, DEVICE_ONLINE, ERROR, INFO, WALLBOX_ERROR, WARNING

# The controllers whose "limiting" means that production is curtailed.
CURTAILING = ("feed_in_limitation", "grid_operator_limits")
LIMITING = "limiting"
# Curtailment that begins again within this time of the last one is the same episode.
CURTAILMENT_QUIET = dt.timedelta(minutes=15)
# Not an outage: the plant has no meter to read.
NOT_CONFIGURED = "no meter configured"


@dataclass(frozen=True)
class Found:
    kind: str
    severity: str
    source: str
    message: str  # a wording with %(name)s placeholders (translated where shown)
    key: str = ""
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The English message with its values."""
        return self.message % dict(self.params)


def _duration(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


@dataclass
class CycleWatch:
    plant_id: int
    error_texts: Mapping[int, str] = field(default_factory=dict)
    _offline_since: dict[str, dt.datetime | None] = field(default_factory=dict)  # None: online
    _box_errors: dict[str, int] = field(default_factory=dict)
    _curtailing: bool = False
    _curtailed_at: dt.datetime | None = None

    def resume(self, open_outages: Mapping[str, dt.datetime]) -> None:
        """Carry on the outages the event log holds as open (a device_offline without its
        device_online) since their start: a worker that takes the plant over, or one restarted,
        then logs neither a second start of the same outage nor misses its end (issue 18)."""
        for name, since in open_outages.items():
            self._offline_since.setdefault(name, since)

    def _devices(self, state: PlantState) -> Iterable[DeviceStatus]:
        yield state.meter_status
        yield from state.devices

    def see(self, state: PlantState) -> list[Found]:
        found: list[Found] = []
        for status in self._devices(state):
            found += self._device(status, state.timestamp)
        for box in state.wallboxes:
            code = int(box.error_code or 0)
            if code and code != self._box_errors.get(box.name, 0):
                text = self.error_texts.get(code, "")
                wording = (
                    gettext_noop("%(box)s: error %(code)s (%(text)s)")
                    if text
                    else gettext_noop("%(box)s: error %(code)s")
                )
                found.append(
                    Found(WALLBOX_ERROR, ERROR, box.name, wording, params={"box": box.name, "code": code, "text": text})
                )
            self._box_errors[box.name] = code
        found += self._curtailment(state)
        return found

    def _device(self, status: DeviceStatus, now: dt.datetime) -> list[Found]:
        name = status.name
        known = name in self._offline_since
        before = self._offline_since.get(name)
        if status.online:
            self._offline_since[name] = None
            if known and before is not None:
                return [
                    Found(
                        DEVICE_ONLINE,
                        INFO,
                        name,
                        gettext_noop("%(device)s back online after %(duration)s"),
                        key=f"online:{self.plant_id}:{name}:{before.isoformat()}",
                        params={"device": name, "duration": _duration(now - before)},
                    )
                ]
            return []
        if status.error == NOT_CONFIGURED or (status.offline_since is None and not known):
            return []  # never read yet: neither an outage nor its end
        if known and before is not None:
            return []  # the same outage (from its first start, also when another runtime saw it begin)
        since = status.offline_since or now
        self._offline_since[name] = since
        return [
            Found(
                DEVICE_OFFLINE,
                WARNING,
                name,
                gettext_noop("%(device)s offline: %(error)s") if status.error else gettext_noop("%(device)s offline"),
                key=f"offline:{self.plant_id}:{name}:{since.isoformat()}",
                params={"device": name, "error": status.error or ""},
            )
        ]

    def _curtailment(self, state: PlantState) -> list[Found]:
        limiting = [c for c in state.controllers if c.name in CURTAILING and c.state == LIMITING]
        if not any(_at_its_limit(inverter) for inverter in state.inverters):
            limiting = []  # a bound nothing presses against (at night, a purchase limit) curtails nothing
        now = state.timestamp
        began = bool(limiting) and not self._curtailing
        self._curtailing = bool(limiting)
        if not began:
            if limiting:
                self._curtailed_at = now
            return []
        quiet = self._curtailed_at is None or now - self._curtailed_at >= CURTAILMENT_QUIET
        self._curtailed_at = now
        if not quiet:
            return []
        reason = "; ".join(c.reason.removeprefix(PREFIX) for c in limiting if c.reason) or "limiting"
        return [
            Found(
                CURTAILMENT,
                INFO,
                limiting[0].name,
                gettext_noop("curtailment active: %(reason)s"),
                params={"reason": reason},
            )
        ]


PREFIX = "curtailment active: "


def _at_its_limit(inverter: InverterState) -> bool:
    """The inverter is held below 100 % and produces what its limit allows: production is lost."""
    if inverter.limit_pct is None or inverter.limit_pct >= 100.0 or inverter.ac_power_w is None:
        return False
    allowed_w = inverter.max_ac_w * inverter.limit_pct / 100.0
    return inverter.ac_power_w >= allowed_w - max(50.0, 0.03 * inverter.max_ac_w)
