"""Online/offline bookkeeping of one device, logging once per outage rather than once per cycle."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from energy.state import DeviceStatus

log = logging.getLogger(__name__)


@dataclass
class StatusTracker:
    name: str
    status: DeviceStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = DeviceStatus(name=self.name, online=False, error="not read yet")

    def ok(self, now: dt.datetime) -> DeviceStatus:
        if not self.status.online and self.status.offline_since is not None:
            log.warning("%s back online after %s", self.name, now - self.status.offline_since)
        self.status = DeviceStatus(name=self.name, online=True, last_seen=now)
        return self.status

    def failed(self, now: dt.datetime, error: str) -> DeviceStatus:
        since = self.status.offline_since
        if self.status.online or since is None:
            log.warning("%s offline: %s", self.name, error)
            since = now
        self.status = DeviceStatus(
            name=self.name, online=False, offline_since=since, error=error, last_seen=self.status.last_seen
        )
        return self.status
