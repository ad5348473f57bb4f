"""Fixtures for the simulator's own tests: a simulator on a free port, at a fixed simulated time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from simulator.testing import SimulatorHandle, run_simulator_in_thread

# A summer day at noon in Germany: sun, base load and a car charging in its default window.
SUMMER_NOON = dt.datetime(2025, 6, 21, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator_in_thread(seed=3, start=SUMMER_NOON) as handle:
        yield handle
