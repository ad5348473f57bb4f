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
loop waits for real, as any loop does.
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
            return super().select(timeout)  # no timer to go to, or a thread may still answer
        # Nothing can happen before the next timer is due: go there at once.
        self._loop.skipped_s += timeout
        return []


class SkippingEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps over idle waits (monotonic time + the waits skipped)."""

    def __init__(self) -> None:
        self.skipped_s = 0.0
        self.in_executor = 0
        super().__init__(_SkippingSelector(self))

    def time(self) -> float:
        return time.monotonic() + self.skipped_s

    def run_in_executor(self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.in_executor += 1
        future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, future: asyncio.Future[Any]) -> None:
        self.in_executor -= 1
