"""A simulated RS485 multi-drop line: several Modbus RTU devices on one wire, one port.

A real RS485 line is one pair of wires: every device hears every byte, only the device whose
address a request names answers, and only one transmitter may drive the line at a time. This
module serves such a line as Modbus RTU over TCP (an RS485-to-Ethernet serial server, which is
what ``socket://host:port`` means to pyserial) and optionally on a pty (a serial device node):

* **Byte time.** Every frame occupies the line for ``bytes x bits per character / baud``
  (11 bits at 8N2: start, 8 data, 2 stop); a request is answered after it has been sent
  completely, the answer after the turnaround silence (t3.5: 3.5 characters, 1.75 ms above
  19200 baud) and its own byte time. ``time_scale`` shrinks these delays for a stepped replay
  (1.0 everywhere else).
* **Collisions.** A request that starts while another frame is on the line (a second master
  talking over the first, or over a device's answer) is a collision: both are lost, the counter
  says so. A product with one owner per line never causes one.
* **CRC errors.** A request whose checksum does not match is dropped (as a real device does) and
  counted.
* **Faults per device** (:data:`DEVICE_FAULTS`): silent (``offline``), late (``slow``), a Modbus
  exception (``exception``, code 4), too few registers (``garbage``/``wrong_length``), a damaged
  checksum (``bad_crc``) or the wrong unit in the answer (``wrong_unit``). The other devices on the
  line answer as before.

:class:`LineCounters` is what a test or benchmark reads: transactions, collisions, CRC errors and
the time the line was busy (utilisation).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import struct
import tty
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from simulator.server import ClientCount, Fault, FaultKind

log = logging.getLogger(__name__)

DEVICE_FAULTS = ("none", "offline", "slow", "exception", "garbage", "wrong_length", "bad_crc", "wrong_unit")
MAX_FRAME_BYTES = 256
DEVICE_FAILURE = 4
Send = Callable[[bytes], None]


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(frame: bytes) -> int:
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), a byte at a time."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in frame:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + struct.pack("<H", crc16(frame))


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """How the line is driven: 57600 8N2 for the ENECTOR."""

    baudrate: int = 57600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 2

    @property
    def bits_per_char(self) -> int:
        return 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baudrate

    def frame_s(self, length: int) -> float:
        """How long ``length`` bytes occupy the line."""
        return length * self.char_s

    @property
    def silence_s(self) -> float:
        """t3.5, the silence that ends a frame (fixed 1.75 ms above 19200 baud)."""
        return 0.00175 if self.baudrate > 19200 else 3.5 * self.char_s

    def describe(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


@dataclass(frozen=True, slots=True)
class DeviceFault:
    """How one device on the line misbehaves (:data:`DEVICE_FAULTS`); ``delay_s`` for ``slow``."""

    kind: str = "none"
    delay_s: float = 0.0

    @classmethod
    def parse(cls, kind: str, delay_s: float = 0.0) -> DeviceFault:
        if kind not in DEVICE_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(DEVICE_FAULTS)}")
        if not delay_s >= 0:
            raise ValueError(f"delay_s must not be negative, got {delay_s}")
        return cls(kind, float(delay_s))


class LineDevice(Protocol):
    """A device on the line: its current address and how it answers a request frame."""

    @property
    def address(self) -> int: ...

    def answer(self, frame: bytes) -> bytes | None: ...


@dataclass
class LineCounters:
    """What happened on the line since it started (or since :meth:`RtuLine.reset_counters`)."""

    requests: int = 0  # frames the masters sent (with a valid checksum)
    transactions: int = 0  # requests a device answered
    collisions: int = 0
    crc_errors: int = 0
    bytes: int = 0  # bytes on the line, both directions
    busy_s: float = 0.0  # line time those bytes took at the baud rate (unscaled)
    since_s: float = 0.0  # loop time the counting began
    per_device: dict[str, int] = field(default_factory=dict)  # answered transactions by device name

    def as_dict(self, now_s: float) -> dict[str, float | int | dict[str, int]]:
        elapsed = max(1e-9, now_s - self.since_s)
        return {
            "requests": self.requests,
            "transactions": self.transactions,
            "collisions": self.collisions,
            "crc_errors": self.crc_errors,
            "bytes": self.bytes,
            "busy_s": round(self.busy_s, 6),
            "elapsed_s": round(elapsed, 3),
            "per_device": dict(self.per_device),
        }


class LineFramer:
    """Cuts one master's byte stream into request frames; a frame whose checksum is wrong is
    dropped and counted once, then the framer resynchronises byte by byte."""

    def __init__(self, silence_s: float) -> None:
        # A partial frame older than this is noise (generous: TCP may split a frame).
        self.stale_s = max(0.5, silence_s)
        self.buffer = bytearray()
        self.last_s = 0.0
        self.crc_errors = 0
        self._in_error = False

    def feed(self, data: bytes, now_s: float) -> list[bytes]:
        if self.buffer and now_s - self.last_s > self.stale_s:
            self.buffer.clear()
            self._in_error = False
        self.last_s = now_s
        self.buffer.extend(data)
        frames: list[bytes] = []
        while len(self.buffer) >= 4:
            length = self._expected_length()
            if length is None:  # an unknown function: the whole burst is one frame, or noise to skip
                if crc16(bytes(self.buffer[:-2])) == struct.unpack("<H", self.buffer[-2:])[0]:
                    frames.append(bytes(self.buffer))
                    self.buffer.clear()
                    self._in_error = False
                else:
                    self._drop_one()
                continue
            if length > MAX_FRAME_BYTES:
                self._drop_one()
                continue
            if len(self.buffer) < length:
                break
            frame = bytes(self.buffer[:length])
            if crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]:
                frames.append(frame)
                del self.buffer[:length]
                self._in_error = False
            else:
                if not self._in_error:
                    self.crc_errors += 1
                    self._in_error = True
                self._drop_one()
        if len(self.buffer) > MAX_FRAME_BYTES:
            self.buffer.clear()
        return frames

    def _expected_length(self) -> int | None:
        function = self.buffer[1]
        if function in (3, 4, 6):
            return 8
        if function == 16:
            return 9 + self.buffer[6] if len(self.buffer) >= 7 else MAX_FRAME_BYTES  # wait for the count
        return None

    def _drop_one(self) -> None:
        del self.buffer[:1]


def mangle(answer: bytes, kind: str) -> bytes:
    """An answer as a faulty device sends it."""
    unit, function = answer[0], answer[1]
    if kind == "exception":
        return with_crc(bytes((unit, function | 0x80, DEVICE_FAILURE)))
    if kind in ("garbage", "wrong_length") and function in (3, 4) and not function & 0x80:
        data = answer[3:-2]
        words = len(data) // 2
        keep = words // 2 if words > 1 else words + 1
        body = (data + b"\xff\xff")[: 2 * keep]
        return with_crc(bytes((unit, function, len(body))) + body)
    if kind == "bad_crc":
        return answer[:-1] + bytes((answer[-1] ^ 0x5A,))
    if kind == "wrong_unit":
        return with_crc(bytes(((unit % 247) + 1,)) + answer[1:-2])
    return answer


class RtuLine:
    """The wire: devices by name, the timing, collisions, faults per device and the counters."""

    def __init__(
        self, name: str, settings: SerialSettings, devices: Mapping[str, LineDevice], *, time_scale: float = 1.0
    ) -> None:
        if not time_scale >= 0:
            raise ValueError(f"time_scale must not be negative, got {time_scale}")
        self.name = name
        self.settings = settings
        self.devices = dict(devices)
        self.time_scale = time_scale
        self.faults: dict[str, DeviceFault] = {}
        self.counters = LineCounters()
        # Transmissions on the line, (start, end) in loop time (scaled), newest last.
        self._busy: list[tuple[float, float]] = []
        self._pending: set[asyncio.TimerHandle] = set()
        self._started = False

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def reset_counters(self) -> None:
        self.counters = LineCounters(since_s=self._now())

    def set_device_fault(self, device: str, fault: DeviceFault) -> None:
        if device not in self.devices:
            raise KeyError(f"no device {device!r} on line {self.name}; known: {', '.join(self.devices)}")
        self.faults[device] = fault

    def fault_of(self, device: str) -> DeviceFault:
        return self.faults.get(device, DeviceFault())

    def _occupy(self, start: float, length: int) -> float:
        duration = self.settings.frame_s(length)
        end = start + duration * self.time_scale
        # A transmission that ended before now overlaps nothing that can still start (requests
        # start now, answers later): only the ones still on the line are kept.
        now = self._now()
        self._busy = [(s, e) for s, e in self._busy if e > now]
        self._busy.append((start, end))
        self.counters.bytes += length
        self.counters.busy_s += duration
        return end

    def _overlaps(self, start: float, end: float) -> bool:
        return any(s < end and start < e for s, e in self._busy)

    def request(self, frame: bytes, send: Send) -> None:
        """A master put ``frame`` on the line (it arrived complete now)."""
        if not self._started:
            self._started = True
            self.counters.since_s = self._now()
        now = self._now()
        self.counters.requests += 1
        end = now + self.settings.frame_s(len(frame)) * self.time_scale
        if self._overlaps(now, end):
            self.counters.collisions += 1
            log.warning("line %s: collision (a request while the line was busy)", self.name)
            self._occupy(now, len(frame))
            self._cancel_pending()  # the frame on the line is garbled as well
            return
        end = self._occupy(now, len(frame))
        self._later(end - now, lambda: self._process(frame, send))

    def _later(self, delay_s: float, call: Callable[[], None]) -> None:
        handle: asyncio.TimerHandle | None = None

        def run() -> None:
            if handle is not None:
                self._pending.discard(handle)
            call()

        handle = asyncio.get_running_loop().call_later(max(0.0, delay_s), run)
        self._pending.add(handle)

    def _cancel_pending(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()

    def _process(self, frame: bytes, send: Send) -> None:
        unit = frame[0]
        for name, device in self.devices.items():
            try:
                if device.address != unit:
                    continue
            except Exception:
                log.exception("line %s: device %s", self.name, name)
                continue
            fault = self.fault_of(name)
            if fault.kind == "offline":
                return
            try:
                answer = device.answer(frame)
            except Exception:
                log.exception("line %s: %s failed on %s", self.name, name, frame.hex())
                return
            if answer is None:
                return
            answer = mangle(answer, fault.kind)
            delay = fault.delay_s if fault.kind == "slow" else 0.0
            start = self._now() + (self.settings.silence_s + delay) * self.time_scale
            end = self._occupy(start, len(answer))
            self.counters.transactions += 1
            self.counters.per_device[name] = self.counters.per_device.get(name, 0) + 1
            self._later(end - self._now(), functools.partial(_safe_send, send, answer))
            return
        # Nobody at that address (or a broadcast): silence, as on a real line.

    def stop(self) -> None:
        self._cancel_pending()


def _safe_send(send: Send, data: bytes) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        send(data)


class _LineProtocol(asyncio.Protocol):
    def __init__(self, server: RtuLineServer) -> None:
        self.server = server
        self.framer = LineFramer(server.line.settings.silence_s)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(transport)
        self.server.client_count.connected(True)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None and self.transport in self.server.connections:
            self.server.connections.discard(self.transport)
            self.server.client_count.connected(False)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        self.server.feed(self.framer, data, transport.write)


class RtuLineServer:
    """One simulated RS485 line on a TCP port (and optionally a pty), with its devices.

    ``set_fault`` acts on the whole line (``offline`` closes the port) when the line has one
    device or the line itself is named, and on one device otherwise (:meth:`set_device_fault`).
    """

    def __init__(
        self,
        name: str,
        devices: Mapping[str, LineDevice],
        *,
        settings: SerialSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        pty: bool = False,
        time_scale: float = 1.0,
    ) -> None:
        self.name = name
        self.host = host
        self.line = RtuLine(name, settings or SerialSettings(), devices, time_scale=time_scale)
        self.fault = Fault()
        self._requested_port = port
        self._bound_port: int | None = None
        self._server: asyncio.Server | None = None
        self.connections: set[asyncio.Transport] = set()
        self.client_count = ClientCount()
        self._want_pty = pty
        self._pty: tuple[int, int] | None = None
        self.pty_path: str | None = None
        self._pty_framer = LineFramer(self.line.settings.silence_s)

    @property
    def device_names(self) -> tuple[str, ...]:
        return tuple(self.line.devices)

    @property
    def counters(self) -> LineCounters:
        return self.line.counters

    @property
    def crc_errors(self) -> int:
        return self.line.counters.crc_errors

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError(f"line {self.name} has not started")
        return self._bound_port

    def feed(self, framer: LineFramer, data: bytes, send: Send) -> None:
        if self.fault.kind is FaultKind.OFFLINE:
            return
        before = framer.crc_errors
        for frame in framer.feed(data, asyncio.get_running_loop().time()):
            self.line.request(frame, send)
        self.line.counters.crc_errors += framer.crc_errors - before

    async def start(self) -> None:
        await self._listen()
        if self._want_pty:
            self._open_pty()

    async def stop(self) -> None:
        self.line.stop()
        await self._close()
        self._close_pty()

    async def set_fault(self, fault: Fault) -> None:
        """A fault of the whole line (the serial server): ``offline`` closes its port."""
        previous, self.fault = self.fault, fault
        if fault.kind is FaultKind.OFFLINE and previous.kind is not FaultKind.OFFLINE:
            await self._close()
        elif fault.kind is not FaultKind.OFFLINE and previous.kind is FaultKind.OFFLINE:
            await self._listen()
        if len(self.line.devices) == 1:
            # One device: its own faults (slow, exception, garbage, ...) are the line's.
            self.line.set_device_fault(next(iter(self.line.devices)), DeviceFault(fault.kind.value, fault.delay_s))
        log.info("line %s: fault %s", self.name, fault.kind.value)

    async def set_device_fault(self, device: str, fault: DeviceFault) -> None:
        """One device on the line misbehaves; the others answer as before."""
        self.line.set_device_fault(device, fault)
        log.info("line %s: device %s fault %s", self.name, device, fault.kind)

    async def _listen(self) -> None:
        port = self._bound_port if self._bound_port is not None else self._requested_port
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _LineProtocol(self), self.host, port)
        except OSError as exc:
            raise OSError(f"line {self.name}: cannot listen on {self.host}:{port}") from exc
        self._bound_port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for transport in list(self.connections):
            transport.abort()
            self.client_count.connected(False)
        self.connections.clear()
        await server.wait_closed()

    # --- the pty ---------------------------------------------------------------------------------
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty = (master, slave)
        self.pty_path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._pty_readable)

    def _pty_readable(self) -> None:
        if self._pty is None:
            return
        try:
            data = os.read(self._pty[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # no client has the line open (EIO)
        self.feed(self._pty_framer, data, self._pty_write)

    def _pty_write(self, data: bytes) -> None:
        if self._pty is not None:
            with contextlib.suppress(OSError):
                os.write(self._pty[0], data)

    def _close_pty(self) -> None:
        descriptors, self._pty = self._pty, None
        if descriptors is None:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(descriptors[0])
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                os.close(descriptor)


def lines_of(names: Sequence[tuple[str, str | None]]) -> dict[str, list[str]]:
    """Group devices into lines: ``(device, line or None)`` in order; a device without a line
    gets one of its own (named after it). Lines keep the order of their first device."""
    lines: dict[str, list[str]] = {}
    for device, line in names:
        lines.setdefault(line or device, []).append(device)
    return lines
