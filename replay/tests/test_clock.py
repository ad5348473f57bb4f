"""The replay's event loop skips idle waits: loop time still passes, wall time does not, and a
simulated RS485 line still sees two frames at once as a collision."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from replay.clock import SkippingEventLoop
from replay.engine import LINE_TIME_SCALE
from simulator.rtu_line import RtuLineServer, with_crc

T = TypeVar("T")


class _Box:
    address = 100

    def answer(self, frame: bytes) -> bytes | None:
        return with_crc(bytes((self.address, 3, 2, 0, 42)))


def _run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=SkippingEventLoop) as runner:
        return runner.run(coro_factory())


def test_a_long_sleep_takes_loop_time_but_no_wall_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(30.0)
        await asyncio.wait_for(asyncio.sleep(5.0), timeout=10.0)
        return loop.time() - before

    started = time.perf_counter()
    elapsed = _run(main)
    assert elapsed >= 35.0
    assert time.perf_counter() - started < 5.0


def test_a_timeout_still_fires_and_a_thread_is_waited_for() -> None:
    async def main() -> tuple[bool, float]:
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.Event().wait(), timeout=0.5)
        except TimeoutError:
            timed_out = True
        # A thread's work takes real time; the loop must not jump past it.
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.05), timeout=1.0)
        return timed_out, time.perf_counter() - started

    timed_out, waited = _run(main)
    assert timed_out
    assert waited >= 0.05


def test_an_answer_arrives_and_two_masters_at_once_collide_on_a_line() -> None:
    request = with_crc(struct.pack(">BBHH", 100, 3, 0, 1))

    async def main() -> tuple[bytes, int, int]:
        server = RtuLineServer("B", {"box": _Box()}, time_scale=LINE_TIME_SCALE)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(request)
            answer = await asyncio.wait_for(reader.readexactly(7), timeout=1.0)
            # Two masters on the same line, each sending as soon as it can.
            _, other_writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(request)
            other_writer.write(request)
            await asyncio.sleep(0.5)
            for w in (writer, other_writer):
                w.close()
            return answer, server.counters.collisions, server.counters.transactions
        finally:
            await server.stop()

    answer, collisions, transactions = _run(main)
    assert answer[:5] == bytes((100, 3, 2, 0, 42))
    assert collisions == 1
    assert transactions == 1


def test_a_stalled_host_does_not_turn_a_waiting_answer_into_a_timeout() -> None:
    """The replaying process not scheduled for 0.6 s (a busy CI machine) while an answer already
    waits on loopback: the driver's 0.5 s timeout must not fire, as no device was late."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(1))
        await writer.drain()

    async def main() -> bytes:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"x")
            asyncio.get_running_loop().call_soon(time.sleep, 0.6)  # the stall
            return await asyncio.wait_for(reader.readexactly(1), timeout=0.5)
        finally:
            writer.close()
            server.close()

    assert _run(main) == b"x"


def test_a_device_that_never_answers_still_times_out_after_its_loop_time() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.sleep(60.0)

    async def main() -> tuple[bool, float]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        before = loop.time()
        try:
            writer.write(b"x")
            await asyncio.wait_for(reader.readexactly(1), timeout=0.5)
        except TimeoutError:
            return True, loop.time() - before
        finally:
            writer.close()
            server.close()
        return False, loop.time() - before

    timed_out, elapsed = _run(main)
    assert timed_out
    assert 0.5 <= elapsed < 1.0
