"""Waiting for a stack to start: as long as it moves on, and a failure names what was still starting
(issue 13 part 12). A stepped clock stands in for minutes of a loaded machine."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stack import health_progress, wait_started


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scripted(clock: Clock, steps: list[tuple[float, Any, str]]) -> Any:
    """A probe answering ``(result, progress)`` of the last step whose time has come."""

    def probe() -> tuple[Any, str]:
        current = [step for step in steps if step[0] <= clock.now][-1]
        return current[1], current[2]

    return probe


def wait(clock: Clock, steps: list[tuple[float, Any, str]], **kwargs: Any) -> Any:
    return wait_started(
        scripted(clock, steps), "the stack", every_s=1.0, clock=clock, sleep=clock.sleep, **kwargs
    )  # fmt: skip


def test_a_slow_start_that_keeps_moving_is_waited_for_past_the_stall_allowance():
    clock = Clock()
    # Each step comes 100 s after the last: never stalled for 120 s, 400 s in all.
    steps = [
        (0.0, None, "supervisord not answering yet; log: Applying plant.0001_initial... OK"),
        (100.0, None, "redis STARTING, worker STARTING, web STARTING, web not answering"),
        (200.0, None, "worker STARTING, health 503: beat, plant 1 cycle (none yet)"),
        (300.0, None, "health 503: plant 1 cycle (none yet)"),
        (400.0, {"status": "ok"}, "healthy"),
    ]
    assert wait(clock, steps, stall_s=120.0, cap_s=600.0) == {"status": "ok"}
    assert clock.now == pytest.approx(400.0)


def test_a_start_that_stops_moving_fails_naming_what_was_still_starting():
    clock = Clock()
    steps = [
        (0.0, None, "redis STARTING, worker STARTING, web not answering"),
        (30.0, None, "worker STARTING, health 503: beat, plant 1 cycle (none yet)"),
    ]
    with pytest.raises(AssertionError) as failure:
        wait(clock, steps, stall_s=120.0, cap_s=600.0, explain=lambda: "worker: STARTING for 150 s")
    message = str(failure.value)
    assert "no progress for 120 s" in message
    assert "still starting: worker STARTING, health 503: beat, plant 1 cycle (none yet)" in message
    assert "worker: STARTING for 150 s" in message
    assert clock.now == pytest.approx(150.0)


def test_the_cap_bounds_a_start_that_never_settles():
    clock = Clock()
    flapping = [(float(t), None, f"worker {'BACKOFF' if t % 20 else 'STARTING'}") for t in range(0, 1000, 10)]
    with pytest.raises(AssertionError, match=r"the cap of 300 s\); still starting: worker"):
        wait(clock, flapping, stall_s=120.0, cap_s=300.0)
    assert clock.now == pytest.approx(300.0)


def test_an_unreachable_probe_counts_as_not_there_yet():
    clock = Clock()
    answers = iter([ConnectionRefusedError("refused")] * 3)

    def probe() -> tuple[Any, str]:
        error = next(answers, None)
        if error:
            raise error
        return {"status": "ok"}, "healthy"

    assert wait_started(probe, "web", every_s=1.0, clock=clock, sleep=clock.sleep) == {"status": "ok"}
    assert clock.now == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("status", "report", "progress"),
    [
        (200, {"status": "ok"}, "healthy"),
        (
            503,
            {
                "database": {"ok": True},
                "redis": {"ok": True},
                "beat": {"ok": False, "last_tick_age_s": None},
                "plants": [
                    {"id": 1, "cycle": {"ok": False, "age_s": None}, "meter": {"ok": False, "online": False}},
                ],
                "processes": {"ok": True, "problems": []},
            },
            "health 503: beat, plant 1 cycle (none yet), plant 1 meter (offline)",
        ),
        (
            503,
            {
                "database": {"ok": True},
                "redis": {"ok": True},
                "beat": {"ok": True, "last_tick_age_s": 0.4},
                "plants": [{"id": 1, "cycle": {"ok": False, "age_s": 9.3}, "meter": {"ok": True, "online": True}}],
                "processes": {"ok": False, "problems": ["worker is failing to start"]},
            },
            "health 503: plant 1 cycle, worker is failing to start",
        ),
        (
            503,
            {"database": {"ok": False, "error": "locked"}, "redis": {"ok": False}},
            "health 503: database, redis, beat",
        ),
    ],
)
def test_health_says_what_is_missing_without_ages(status: int, report: dict[str, Any], progress: str):
    # Ages change every second; progress must change only when start-up moves on.
    assert health_progress(status, report) == progress
