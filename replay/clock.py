"""The replay's event loop: loop time that skips the waits nobody can shorten.

In a stepped replay the product, its drivers and the simulated devices all run in one event
loop. Whenever that loop has nothing to do but wait (for a simulated RS485 line's byte time, a
turnaround silence, a driver's timeout), no socket can become ready in the meantime: every
party that could write is in this loop, and loopback delivers a write at once. So instead of
sleeping, :class:`SkippingEventLoop` moves its clock on by the wait and carries on.

Everything keeps its loop-time meaning: a frame still occupies the line for its (scaled) byte
time, an answer still arrives after it, a timeout still fires when nothing answered in time and
two frames on the line at once still overlap. Only the idle wall time is gone. While a thread
of the loop's executor is working (name lookups, ``to_thread``), or with no timer at all, the
loop waits for real, as any loop does, and that wait counts in full.

Work between waits counts too, but a host's hiccup does not: a stretch of more than
:data:`STALL_CAP_S` between two looks at the clock (the process descheduled on a busy machine, a
garbage collection, a slow disk under SQLite) counts as :data:`STALL_CAP_S`. Otherwise an answer
already waiting on loopback could be declared missing because the replaying process was not
scheduled for half a second, and the trace would show a device offline that never was.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _SkippingSelector(selectors.DefaultSelector):
    def __init__(self, loop: SkippingEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or self._loop.in_executor:
            # No timer to go to, or a thread may still answer: a real wait, counted in full.
            self._loop.time()
            started = time.monotonic()
            try:
                return super().select(timeout)
            finally:
                self._loop.waited(time.monotonic() - started)
        # Nothing can happen before the next timer is due: go there at once.
        self._loop.skipped_s += timeout
        self._loop.waited(timeout)
        return []


# The most one stretch of work between two looks at the clock counts in loop time (see above).
STALL_CAP_S = 0.05


class SkippingEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps over idle waits: the waits (skipped or real) plus
    the work between them, a stall counting as at most STALL_CAP_S."""

    def __init__(self) -> None:
        self.skipped_s = 0.0
        self.in_executor = 0
        self._now = time.monotonic()
        self._seen = self._now
        super().__init__(_SkippingSelector(self))

    def time(self) -> float:
        seen = time.monotonic()
        self._now += min(max(seen - self._seen, 0.0), STALL_CAP_S)
        self._seen = seen
        return self._now

    def waited(self, seconds: float) -> None:
        """A wait of ``seconds`` just ended (skipped, or spent in the selector): it counts in full."""
        self._now += seconds
        self._seen = time.monotonic()

    def run_in_executor(self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.in_executor += 1
        future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, future: asyncio.Future[Any]) -> None:
        self.in_executor -= 1
