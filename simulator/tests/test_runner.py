"""The running simulator: its clock, its port and its device servers."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from simulator.runner import Simulator
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from simulator.tests.conftest import SUMMER_NOON


def test_clock_runs_at_the_requested_speed() -> None:
    with run_simulator_in_thread(seed=1, speed=120, start=SUMMER_NOON) as sim:
        time.sleep(0.5)
        elapsed_s = (sim.model.now - SUMMER_NOON).total_seconds()
    assert 40 <= elapsed_s <= 90  # 0.5 s of wall time at 120x, give or take a tick


def test_clock_continues_after_a_jump(sim: SimulatorHandle) -> None:
    jump_to = SUMMER_NOON + dt.timedelta(hours=3)
    sim.model.advance(jump_to)
    time.sleep(0.5)
    assert sim.model.now > jump_to


def test_port_zero_binds_a_free_port_on_loopback_only(sim: SimulatorHandle) -> None:
    assert sim.host == "127.0.0.1"
    assert sim.port > 0
    with socket.create_connection((sim.host, sim.port), timeout=2):
        pass


def test_a_taken_port_is_reported(sim: SimulatorHandle) -> None:
    with pytest.raises(OSError, match="cannot listen"):
        run_simulator_in_thread(seed=1, port=sim.port, start=SUMMER_NOON)


def test_speed_must_be_positive(sim: SimulatorHandle) -> None:
    with pytest.raises(ValueError, match="speed"):
        Simulator(sim.model, speed=0)
