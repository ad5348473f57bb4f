"""Modbus RTU slave on a serial line (RS485 A/B, MB-3), on the asyncio loop.

Framing: a request whose length follows from its function code (01-06: 8 bytes, 15/16: 9 plus
the byte count) is handled as soon as its last byte arrives; any other is taken as a frame at
the end of a t3.5 silence. A frame with a bad CRC is ignored, as is everything addressed to
another slave (skipped until the line falls silent). The answer goes out no earlier than t3.5
after the request's last byte, so the line keeps its inter-frame gap. Writes are not accepted
on RTU (exception 01): the wallbox control registers are writable over TLS only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from typing import Any

from modbus import rtu
from modbus.rtu import LineSettings
from modbus.slave.core import SlaveCore

log = logging.getLogger(__name__)

MAX_FRAME = 256


def expected_length(buffer: bytes | bytearray) -> int | None:
    """Length of the request starting ``buffer``: a number, ``None`` while unknown, ``-1`` if only
    a silence can end it (function code without a fixed layout)."""
    if len(buffer) < 2:
        return None
    function_code = buffer[1]
    if 1 <= function_code <= 6:
        return 8
    if function_code in (15, 16):
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return -1


class RtuFramer:
    """Cuts the byte stream of a line into the request frames for one slave address."""

    def __init__(self, address: int, silent_s: float) -> None:
        self.address = address
        self.silent_s = silent_s
        self.buffer = bytearray()
        self.last_rx = -1e9
        self.skipping = False
        self.ignored = 0  # frames dropped for a bad CRC

    def feed(self, data: bytes, now: float) -> list[bytes]:
        """Complete frames for our address with a valid CRC, in order."""
        if now - self.last_rx > self.silent_s:
            self.buffer.clear()
            self.skipping = False
        self.last_rx = now
        if self.skipping:
            return []
        buffer = self.buffer
        buffer += data
        frames: list[bytes] = []
        while buffer:
            if buffer[0] != self.address:
                self._skip()
                break
            need = expected_length(buffer)
            if need is None or need < 0 or len(buffer) < need:
                if len(buffer) > MAX_FRAME:
                    self._skip()
                break
            frame = bytes(buffer[:need])
            del buffer[:need]
            if not rtu.crc_ok(frame):
                self.ignored += 1
                self._skip()
                break
            frames.append(frame)
        return frames

    def at_silence(self) -> bytes | None:
        """The buffered bytes as one frame when the line fell silent (if they make a valid one)."""
        frame = bytes(self.buffer)
        self.buffer.clear()
        self.skipping = False
        if len(frame) >= 4 and frame[0] == self.address:
            if rtu.crc_ok(frame):
                return frame
            self.ignored += 1
        return None

    def _skip(self) -> None:
        self.buffer.clear()
        self.skipping = True


class RtuSlavePort:
    """Serves ``core`` as slave ``line.address`` on the serial device ``device``."""

    def __init__(self, core: SlaveCore, device: str, line: LineSettings, *, name: str = "RS485") -> None:
        self.core = core
        self.device = device
        self.line = line
        self.name = name
        self.silent_s = rtu.silent_interval_s(line.baudrate, line.bytesize, line.parity, line.stopbits)
        self.framer = RtuFramer(line.address, self.silent_s)
        self.own_times_s: deque[float] = deque(maxlen=100_000)  # frame complete -> answer ready
        self._serial: Any = None
        self._fd = -1
        self._silence: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._fd >= 0

    async def start(self) -> None:
        import serial  # type: ignore[import-untyped]  # pyserial: only the RTU interfaces need it

        line = self.line
        self._serial = serial.Serial(
            port=self.device,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            timeout=0,
        )
        self._fd = self._serial.fileno()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)
        log.info(
            "%s: Modbus RTU slave %d on %s, %d %d%s%d",
            self.name,
            line.address,
            self.device,
            line.baudrate,
            line.bytesize,
            line.parity,
            line.stopbits,
        )

    async def stop(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._fd = -1
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            log.warning("%s: %s failed (%s); the interface stops until it is reconfigured", self.name, self.device, exc)
            assert self._loop is not None
            self._loop.create_task(self.stop())
            return
        if not data:
            return
        started = time.perf_counter()
        now = time.monotonic()
        for frame in self.framer.feed(data, now):
            self._answer(frame, now, started)
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None
        if self.framer.buffer and self._loop is not None:
            self._silence = self._loop.call_later(self.silent_s, self._on_silence)

    def _on_silence(self) -> None:
        self._silence = None
        frame = self.framer.at_silence()
        if frame is not None:
            self._answer(frame, self.framer.last_rx, time.perf_counter())

    def _answer(self, frame: bytes, received: float, started: float) -> None:
        """Answer ``frame`` (its last byte arrived at ``received``); ``started``: when we began on it."""
        response = rtu.with_crc(frame[:1] + self.core.handle(frame[1:-2]))
        self.own_times_s.append(time.perf_counter() - started)
        delay = received + self.silent_s - time.monotonic()
        if delay > 0 and self._loop is not None:
            self._loop.call_later(delay, self._send, response)
        else:
            self._send(response)

    def _send(self, frame: bytes) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, frame)
        except OSError as exc:
            log.warning("%s: cannot write to %s: %s", self.name, self.device, exc)
