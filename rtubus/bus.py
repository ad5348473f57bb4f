"""One owner per RS485 line: every Modbus RTU transaction on a serial port goes through its bus.

An RS485 line is one pair of wires. Only one request may be on it at a time, and the answer
must come back before the next request goes out; two clients on one port (two boxes read at
once, an inverter beside a box, a setup job beside the cycle) talk over each other. So, per
event loop, each serial port has exactly one :class:`RtuBus`: one pymodbus client and a FIFO
lock. A transaction (one request and its answer) holds the lock; a device's read of several
requests lets the other devices' requests in between, so nobody waits for more than the
transaction in progress. Every RTU driver uses it: the ENECTOR, the inverters on RS485 and the
SDM630 meter.

* **Per-device timeouts.** Each transaction carries the timeout of the device it asks; a box
  that does not answer costs the line that timeout and nothing more (its driver then gives up
  its read), so one dead box never holds the others beyond its own timeout.
* **After a timeout** the bus stays quiet for as long as the longest RTU frame (256 bytes) takes
  at the line's speed plus the 3.5-character frame gap (:func:`quiet_after_timeout_s`, at least
  :data:`QUIET_AFTER_TIMEOUT_S`), so a late answer of the slow device is over before the next
  device's request goes out and is not taken for its answer: 50 ms at 57600 baud, 0.27 s at 9600.
* **Settings.** Every device on a line must use the line's settings (baud, data bits, parity,
  stop bits); a device that wants others is refused with a message naming both.
* **Life.** :func:`acquire_bus` hands out the port's bus (opening it on first use) and counts its
  users; :meth:`RtuBus.release` closes the port when the last user is gone. The cycle's drivers,
  setup, detection and firmware jobs all acquire the same bus when they run in the same event
  loop, the worker's one device loop (see docs/architecture.md, "RS485 lines").
* **What came back.** A transaction may pass a ``watch`` (a pymodbus ``trace_packet`` hook such
  as :class:`energy.devices.WireWatch`); it sees the bytes of that transaction only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymodbus.client import AsyncModbusSerialClient

from energy.config import SerialConfig
from rtubus.lean import lean

T = TypeVar("T")
QUIET_AFTER_TIMEOUT_S = 0.05  # the floor: a serial server's own buffering on fast lines
LONGEST_RTU_FRAME_BYTES = 256


def quiet_after_timeout_s(serial: SerialConfig) -> float:
    """How long the line stays quiet after a transaction failed: a late answer of the longest
    size, sent at the line's speed, and the frame gap after it must be over."""
    parity_bits = 0 if serial.parity.upper() == "N" else 1
    character_s = (1 + serial.bytesize + parity_bits + serial.stopbits) / serial.baudrate
    return max(QUIET_AFTER_TIMEOUT_S, (LONGEST_RTU_FRAME_BYTES + 3.5) * character_s)


class BusError(Exception):
    """The line cannot be used as asked (settings differ, nothing configured)."""


class PortUnavailable(ConnectionError):
    """The serial port (or the serial server behind a ``socket://`` URL) cannot be opened."""


Trace = Callable[[bool, bytes], bytes]


@dataclass
class BusStats:
    """What went over one line since it was opened."""

    transactions: int = 0
    failed: int = 0
    busy_s: float = 0.0  # time transactions held the line
    waited_s: float = 0.0  # time requests waited for the line
    opened_s: float = 0.0  # monotonic time the bus was opened


def describe(serial: SerialConfig) -> str:
    return f"{serial.baudrate} {serial.bytesize}{serial.parity}{serial.stopbits}"


class RtuBus:
    """The one client of a serial line in this event loop; transactions one at a time."""

    def __init__(self, serial: SerialConfig, key: tuple[int, str]) -> None:
        self.loop = asyncio.get_running_loop()
        self.serial = serial
        self._key = key
        self._client: AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._quiet_until = 0.0
        self._quiet_s = quiet_after_timeout_s(serial)
        self._watch: Trace | None = None
        self.users = 0
        self.stats = BusStats(opened_s=time.monotonic())

    @property
    def port(self) -> str:
        return self.serial.port

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def _new_client(self, timeout_s: float) -> AsyncModbusSerialClient:
        serial = self.serial
        return lean(
            AsyncModbusSerialClient(
                serial.port,
                baudrate=serial.baudrate,
                bytesize=serial.bytesize,
                parity=serial.parity,
                stopbits=serial.stopbits,
                timeout=timeout_s,
                retries=0,
                reconnect_delay=0,
                trace_packet=self._trace,
            )
        )

    def _trace(self, sending: bool, data: bytes) -> bytes:
        watch = self._watch
        return data if watch is None else watch(sending, data)

    async def transaction(
        self,
        timeout_s: float,
        call: Callable[[AsyncModbusSerialClient], Awaitable[T]],
        *,
        watch: Trace | None = None,
    ) -> T:
        """Run one request/answer on the line with the asking device's ``timeout_s``.

        Raises what pymodbus raises (``ConnectionException``, ``ModbusIOException`` on a timeout)
        and :class:`PortUnavailable` when the port cannot be opened; the caller turns that into
        its device's error. A lost connection is closed here, so the next transaction opens the
        port again. ``watch`` sees the bytes sent and received in this transaction.
        """
        asked = time.monotonic()
        async with self._lock:
            started = time.monotonic()
            self.stats.waited_s += started - asked
            quiet = self._quiet_until - started
            if quiet > 0:
                await asyncio.sleep(quiet)
            if self._client is None:
                self._client = self._new_client(timeout_s)
            client = self._client
            if not client.connected and not await client.connect():
                self._close_client()
                raise PortUnavailable(f"cannot open {self.port}")
            client.ctx.comm_params.timeout_connect = timeout_s
            ok = False
            self._watch = watch
            try:
                result = await call(client)
                ok = True
                return result
            except (TimeoutError, asyncio.CancelledError):
                self._quiet_until = time.monotonic() + self._quiet_s
                raise
            except Exception:
                self._quiet_until = time.monotonic() + self._quiet_s
                if not client.connected:
                    self._close_client()
                raise
            finally:
                self._watch = None
                self.stats.transactions += 1
                self.stats.failed += 0 if ok else 1
                self.stats.busy_s += time.monotonic() - started

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def release(self) -> None:
        """One user less; the last one closes the port."""
        self.users = max(0, self.users - 1)
        if self.users == 0:
            self._close_client()
            if _buses.get(self._key) is self:
                del _buses[self._key]


_buses: dict[tuple[int, str], RtuBus] = {}


def acquire_bus(serial: SerialConfig) -> RtuBus:
    """The bus of ``serial.port`` in the running event loop (opened on first use), one user more.

    Raises :class:`BusError` when the line is already driven with other settings.
    """
    if not serial.port:
        raise BusError("no RS485 interface is configured")
    loop = asyncio.get_running_loop()
    key = (id(loop), serial.port)
    bus = _buses.get(key)
    if bus is None or bus.loop is not loop:  # none yet, or one left by a loop that has ended
        bus = _buses[key] = RtuBus(serial, key)
    elif bus.serial != serial:
        raise BusError(
            f"{serial.port} is driven at {describe(bus.serial)}; a device asking for {describe(serial)} "
            "cannot share it (every device on one RS485 line needs the line's settings)"
        )
    bus.users += 1
    return bus


def open_buses() -> dict[str, dict[str, Any]]:
    """The lines open in the running event loop and what went over them (for benchmarks, health)."""
    loop_id = id(asyncio.get_running_loop())
    now = time.monotonic()
    return {
        port: {
            "settings": describe(bus.serial),
            "users": bus.users,
            "transactions": bus.stats.transactions,
            "failed": bus.stats.failed,
            "busy_s": round(bus.stats.busy_s, 3),
            "waited_s": round(bus.stats.waited_s, 3),
            "open_s": round(now - bus.stats.opened_s, 3),
        }
        for (owner, port), bus in _buses.items()
        if owner == loop_id
    }
