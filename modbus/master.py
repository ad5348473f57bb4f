"""Modbus TCP master (MB-4): push the meter registers to up to 10 target slaves.

Runs in the ``serve_modbus`` process, which sees every new snapshot, so the cycle itself never
waits for a target. Each target has its own task and connection and a mailbox holding only
the newest values: a slow target skips values instead of queueing them, and never delays
another. Every request is bounded by the timeout; a failed push closes the connection and
backs off (1, 2, 4 ... 30 s) before the target is tried again. Per target the last success
and the last error are reported (``on_status``, at most once a second).

Register groups (FC16 writes to the same addresses the slave serves): current values total
0-27, per phase 40-145, energy totals 512-551, energy per phase 592-791 (two writes; FC16
carries at most 123 registers). Values are pushed after each cycle or every ``interval_s``
seconds, then optionally as the mean over the interval (energies: the newest counter).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from energy.state import MeterReading, PhaseReading
from meter import registers
from modbus.registermap import MASTER_GROUPS

log = logging.getLogger(__name__)

MAX_TARGETS = 10
GROUPS = tuple(MASTER_GROUPS)
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STATUS_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class TargetConfig:
    id: int
    host: str
    port: int = 502
    unit_id: int = 1


@dataclass(frozen=True, slots=True)
class MasterConfig:
    enabled: bool = False
    targets: tuple[TargetConfig, ...] = ()
    groups: tuple[str, ...] = ("total",)
    interval_s: float | None = None  # None: after each cycle
    average: bool = False
    timeout_s: float = 0.5


@dataclass(slots=True)
class TargetStatus:
    last_success: float | None = None
    last_error: str = ""
    last_error_at: float | None = None
    pushes: int = 0
    failures: int = 0


def mean_reading(readings: Sequence[MeterReading]) -> MeterReading:
    """The mean of instantaneous values; energies are the newest counters."""

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values)

    last = readings[-1]
    phases = tuple(
        PhaseReading(
            voltage_v=mean([r.phases[n].voltage_v for r in readings]),
            current_a=mean([r.phases[n].current_a for r in readings]),
            active_power_w=mean([r.phases[n].active_power_w for r in readings]),
            reactive_power_var=mean([r.phases[n].reactive_power_var for r in readings]),
            apparent_power_va=mean([r.phases[n].apparent_power_va for r in readings]),
            power_factor=mean([r.phases[n].power_factor for r in readings]),
        )
        for n in range(3)
    )
    return MeterReading(
        active_power_w=mean([r.active_power_w for r in readings]),
        reactive_power_var=mean([r.reactive_power_var for r in readings]),
        apparent_power_va=mean([r.apparent_power_va for r in readings]),
        power_factor=mean([r.power_factor for r in readings]),
        frequency_hz=mean([r.frequency_hz for r in readings]),
        phases=(phases[0], phases[1], phases[2]),
        energy=last.energy,
        phase_energy=last.phase_energy,
    )


def write_pdus(reading: MeterReading, groups: Sequence[str]) -> list[bytes]:
    """FC16 request PDUs carrying the chosen groups of ``reading``."""
    words = registers.encode_reading(reading)
    pdus = []
    for group in groups:
        for start, count in MASTER_GROUPS[group]:
            values = [words.get(start + i, 0) for i in range(count)]
            pdus.append(struct.pack(f">BHHB{count}H", 16, start, count, 2 * count, *values))
    return pdus


class PushError(Exception):
    pass


class TargetConnection:
    """One TCP connection to a target; every request bounded by ``timeout_s``."""

    def __init__(self, target: TargetConfig, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._transaction = 0

    async def push(self, pdus: Sequence[bytes]) -> None:
        if self._writer is None:
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.target.host, self.target.port), self.timeout_s
                )
            except TimeoutError:
                raise PushError(f"no connection within {self.timeout_s:g} s") from None
            except OSError as exc:
                raise PushError(f"cannot connect: {exc.strerror or exc}") from None
        for pdu in pdus:
            await self._request(pdu)

    async def _request(self, pdu: bytes) -> None:
        assert self._reader is not None and self._writer is not None
        self._transaction = (self._transaction + 1) & 0xFFFF
        self._writer.write(struct.pack(">HHHB", self._transaction, 0, len(pdu) + 1, self.target.unit_id) + pdu)
        try:
            header = await asyncio.wait_for(self._reader.readexactly(7), self.timeout_s)
            transaction, _protocol, length, _unit = struct.unpack(">HHHB", header)
            body = await asyncio.wait_for(self._reader.readexactly(length - 1), self.timeout_s)
        except TimeoutError:
            raise PushError(f"no answer within {self.timeout_s:g} s") from None
        except (asyncio.IncompleteReadError, OSError):
            raise PushError("connection closed by the target") from None
        if transaction != self._transaction:
            raise PushError("answer to another request")
        if body and body[0] & 0x80:
            code = body[1] if len(body) > 1 else 0
            raise PushError(f"target answered Modbus exception {code} writing {struct.unpack_from('>H', pdu, 1)[0]}")

    def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()


@dataclass(slots=True)
class _Slot:
    target: TargetConfig
    task: asyncio.Task[None] | None = None
    pdus: list[bytes] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    retry_at: float = 0.0
    backoff_s: float = 0.0


class MasterPusher:
    def __init__(self, on_status: Callable[[dict[int, TargetStatus]], None] | None = None) -> None:
        self.config = MasterConfig()
        self.statuses: dict[int, TargetStatus] = {}
        self._slots: dict[int, _Slot] = {}
        self._on_status = on_status
        self._status_dirty = False
        self._readings: list[MeterReading] = []
        self._latest: MeterReading | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._stopping = False

    def configure(self, config: MasterConfig) -> None:
        """Start, keep or stop target tasks to match ``config``."""
        if self._stopping:
            return
        previous, self.config = self.config, config
        active = {t.id: t for t in config.targets[:MAX_TARGETS]} if config.enabled else {}
        for target_id, slot in list(self._slots.items()):
            if active.get(target_id) != slot.target or previous.timeout_s != config.timeout_s:
                if slot.task is not None:
                    slot.task.cancel()
                del self._slots[target_id]
        for target_id, target in active.items():
            if target_id not in self._slots:
                slot = _Slot(target)
                slot.task = asyncio.create_task(self._run(slot))
                self._slots[target_id] = slot
                self.statuses.setdefault(target_id, TargetStatus())
        for target_id in list(self.statuses):
            if target_id not in active:
                del self.statuses[target_id]
                self._status_dirty = True
        if self._ticker is not None and (not active or previous.interval_s != config.interval_s):
            self._ticker.cancel()
            self._ticker = None
        if active and config.interval_s and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(config.interval_s))
        if self._reporter is None and self._on_status is not None:
            self._reporter = asyncio.create_task(self._report())

    def offer(self, reading: MeterReading) -> None:
        """A new cycle's values (already with the totals since commissioning)."""
        if not self._slots:
            return
        if self.config.interval_s:
            self._latest = reading
            if self.config.average:
                self._readings.append(reading)
            return
        self._send(write_pdus(reading, self.config.groups))

    def _send(self, pdus: list[bytes]) -> None:
        for slot in self._slots.values():
            slot.pdus = pdus
            slot.wake.set()

    async def _tick(self, interval_s: float) -> None:
        while not self._stopping:
            await asyncio.sleep(interval_s)
            if self.config.average and self._readings:
                reading: MeterReading | None = mean_reading(self._readings)
            else:
                reading = self._latest
            self._readings = []
            if reading is not None:
                self._send(write_pdus(reading, self.config.groups))

    async def _run(self, slot: _Slot) -> None:
        connection = TargetConnection(slot.target, self.config.timeout_s)
        deadline_s = self.config.timeout_s * 8
        status = self.statuses.setdefault(slot.target.id, TargetStatus())
        try:
            while not self._stopping and self._slots.get(slot.target.id) is slot:
                await slot.wake.wait()
                slot.wake.clear()
                if time.monotonic() < slot.retry_at:
                    continue
                pdus = slot.pdus
                try:
                    await asyncio.wait_for(connection.push(pdus), deadline_s)
                except (PushError, TimeoutError) as exc:
                    connection.close()
                    message = str(exc) or f"no answer within {deadline_s:g} s"
                    slot.backoff_s = min(max(BACKOFF_FIRST_S, slot.backoff_s * 2), BACKOFF_MAX_S)
                    slot.retry_at = time.monotonic() + slot.backoff_s
                    if message != status.last_error or status.last_error_at is None:
                        log.warning(
                            "Modbus master: %s:%d: %s (retry in %g s)",
                            slot.target.host,
                            slot.target.port,
                            message,
                            slot.backoff_s,
                        )
                    status.last_error = message
                    status.last_error_at = time.time()
                    status.failures += 1
                else:
                    if slot.backoff_s:
                        log.info("Modbus master: %s:%d reachable again", slot.target.host, slot.target.port)
                    slot.backoff_s = 0.0
                    status.last_success = time.time()
                    status.pushes += 1
                self._status_dirty = True
        finally:
            connection.close()

    async def _report(self) -> None:
        while not self._stopping:
            await asyncio.sleep(STATUS_EVERY_S)
            if self._status_dirty and self._on_status is not None:
                self._status_dirty = False
                self._on_status({k: dataclasses.replace(v) for k, v in self.statuses.items()})

    async def stop(self, timeout_s: float = 2.0) -> None:
        """End every target task; waits at most ``timeout_s`` (a task that swallowed its
        cancellation is left behind, its loop ends at its next turn)."""
        self._stopping = True
        tasks = [slot.task for slot in self._slots.values() if slot.task is not None]
        tasks += [t for t in (self._ticker, self._reporter) if t is not None]
        self._slots = {}
        self._ticker = self._reporter = None
        tasks = [task for task in tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            if pending:
                log.warning("Modbus master: %d task(s) did not end within %g s", len(pending), timeout_s)
