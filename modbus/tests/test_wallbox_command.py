"""The wallbox command registers (MB-2) lapse after the timeout, and the stored command reaches
the wallbox control with its expiry."""

from __future__ import annotations

import datetime as dt
import json
import struct

import pytest

from energy.config import WALLBOX_COMMAND_TIMEOUT_S
from modbus import services
from modbus.slave.core import Peer, SlaveCore
from modbus.wallbox_control import BASE, RELEASED, WallboxControls

TLS = Peer(may_write=True)
READ = struct.pack(">BHH", 3, BASE, 2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def words(core: SlaveCore) -> tuple[int, int]:
    response = core.handle(READ, TLS)
    mode, limit = struct.unpack(">HH", response[2:])
    return mode, limit


def test_the_registers_read_released_once_a_command_is_not_written_again_within_the_timeout():
    clock = Clock()
    stored: list[WallboxControls] = []

    def sink(controls: WallboxControls) -> bool:
        stored.append(controls)
        return True

    core = SlaveCore(sink=sink, clock=clock)
    assert words(core) == (RELEASED, 0)
    assert core.handle(struct.pack(">BHHBHH", 16, BASE, 2, 4, 0, 100), TLS)[0] == 16
    assert words(core) == (0, 100)
    clock.now += WALLBOX_COMMAND_TIMEOUT_S - 1
    assert core.handle(struct.pack(">BHH", 6, BASE + 1, 120), TLS)[0] == 6  # renewed
    clock.now += WALLBOX_COMMAND_TIMEOUT_S - 1
    assert words(core) == (0, 120)
    clock.now += 1
    assert words(core) == (RELEASED, 0), "lapsed 60 s after the last write"
    # A write after the lapse starts from released, not from the old command.
    assert core.handle(struct.pack(">BHH", 6, BASE + 1, 80), TLS)[0] == 6
    assert stored[-1] == WallboxControls(mode=None, current_limit_a=8.0)


@pytest.mark.parametrize(
    ("payload", "mode", "limit"),
    [
        ({"mode": "lock", "current_limit_a": None}, "lock", None),
        ({"mode": "grid", "current_limit_a": 10.0}, "power", 10.0),
        ({"mode": "pv", "current_limit_a": None}, "solar_pure", None),
        ({"mode": "hybrid", "current_limit_a": 6.0}, "solar_plus", 6.0),
        ({"mode": None, "current_limit_a": None}, None, None),
    ],
)
def test_a_stored_command_is_taken_with_its_expiry(payload, mode, limit):
    at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    command = services.wallbox_command_from(json.dumps({**payload, "source": "modbus-tls", "at": at.isoformat()}))
    assert command is not None
    assert (command.mode, command.current_limit_a) == (mode, limit)
    assert command.expires_at == at + dt.timedelta(seconds=60)
    held = mode is not None or limit is not None
    assert command.in_force(at + dt.timedelta(seconds=59.9)) is held
    assert command.in_force(at + dt.timedelta(seconds=60)) is False
    assert command.in_force(at - dt.timedelta(seconds=61)) is False, "written by a clock far ahead"


@pytest.mark.parametrize(
    "raw",
    ['{"mode": "turbo", "at": "2026-06-01T12:00:00+00:00"}', '{"mode": "lock", "at": "2026-06-01T12:00:00"}',
     '{"mode": "lock"}', "not json", '["lock"]'],
)  # fmt: skip
def test_an_unreadable_stored_command_is_ignored(raw):
    assert services.wallbox_command_from(raw) is None
