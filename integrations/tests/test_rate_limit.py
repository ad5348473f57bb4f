"""The command rate limit of the bridge: bursts of 10, then 5 a second (a fake clock, no broker)."""

from __future__ import annotations

from integrations.bridge import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_ten_then_five_a_second():
    clock = Clock()
    limit = RateLimit(5.0, 10, clock)
    assert [limit.allow() for _ in range(12)] == [True] * 10 + [False] * 2
    clock.now += 0.2  # one token back
    assert [limit.allow(), limit.allow()] == [True, False]
    clock.now += 60.0  # never more than the burst saved up
    assert sum(limit.allow() for _ in range(20)) == 10
