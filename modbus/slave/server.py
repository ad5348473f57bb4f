"""The Modbus slave process: follows the plant's snapshot and serves it over TCP, TLS and RTU.

One :class:`SlaveCore` holds the register image of the latest snapshot. The image is rebuilt
only when a new snapshot appears in Redis (polled every ``poll_s``, so a served value is never
older than one cycle plus that), and dropped while the measurement is stale: no meter reading,
meter offline, or a snapshot older than the health limit. Reads then answer exception 4, and
the log says so once per outage.

The configuration (switches, served plant, RS485 interfaces, master targets) is re-read every
second and applied without a restart; TLS certificate statuses four times a second, so deleting
an accepted certificate closes its connections within a second. Everything that touches the
database or Redis goes through a :class:`Backend` (``modbus.services.ServiceBackend`` in the
product, an in-memory one in tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pydantic

from energy import snapshot
from energy.state import DeviceInfo, PlantState
from modbus import registermap, tls
from modbus.master import MasterConfig, MasterPusher, TargetStatus
from modbus.rtu import LineSettings
from modbus.slave.core import SlaveCore
from modbus.slave.rtu import RtuSlavePort
from modbus.slave.tcp import ConnectionLimits, TcpListener
from modbus.wallbox_control import WallboxControls

log = logging.getLogger(__name__)

UNIT_IDS = (1, 71)
STOP_TIMEOUT_S = 2.0  # how long stop() waits for its cancelled tasks


async def cancel_and_wait(tasks: list[asyncio.Task[None]], timeout_s: float, what: str) -> None:
    """Cancel ``tasks`` and wait for them, at most ``timeout_s``.

    Awaiting a cancelled task without a bound can hang: a task may swallow its cancellation
    (``asyncio.wait_for`` does so on Python 3.11 when the awaited call completes in the same
    loop step) and carry on. Whatever has not ended by then is left behind, and logged."""
    tasks = [task for task in tasks if not task.done()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    if pending:
        log.warning("%s: %d task(s) did not end within %g s of being cancelled", what, len(pending), timeout_s)


@dataclass(frozen=True, slots=True)
class SerialPortConfig:
    name: str
    device: str
    line: LineSettings


@dataclass(frozen=True, slots=True)
class SlaveConfig:
    plant_id: int | None
    tcp_enabled: bool = True
    tls_enabled: bool = False
    serial: tuple[SerialPortConfig, ...] = ()
    master: MasterConfig = field(default_factory=MasterConfig)


class Backend(Protocol):
    """Where the slave's data lives. Sync methods run in a thread, async ones on the loop."""

    def load_config(self) -> SlaveConfig: ...

    def load_trust(self) -> dict[str, str]: ...

    def record_certificate(self, der: bytes) -> None: ...

    def store_command(self, plant_id: int, controls: WallboxControls, source: str) -> bool: ...

    def load_command(self, plant_id: int) -> WallboxControls: ...

    def write_target_statuses(self, statuses: dict[int, TargetStatus]) -> None: ...

    def read_snapshot(self, plant_id: int) -> Awaitable[bytes | None]: ...

    def product_info(self, plant_id: int) -> DeviceInfo: ...


class ModbusSlave:
    def __init__(
        self,
        backend: Backend,
        *,
        host: str = "127.0.0.1",
        tcp_port: int = 5020,
        tls_port: int = 8020,
        tls_dir: Path | None = None,
        max_age_s: float = 5.0,
        poll_s: float = 0.05,
        config_every_s: float = 1.0,
        trust_every_s: float = 0.25,
        clock: Callable[[], float] = time.time,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.backend = backend
        self.host = host
        self.tcp_port = tcp_port
        self.tls_port = tls_port
        self.tls_dir = tls_dir
        self.max_age_s = max_age_s
        self.poll_s = poll_s
        self.config_every_s = config_every_s
        self.trust_every_s = trust_every_s
        self.clock = clock
        self.limits = limits or ConnectionLimits()
        self._stopping = False
        self.core = SlaveCore(UNIT_IDS, sink=self._store_command)
        self.config: SlaveConfig | None = None
        self.tcp: TcpListener | None = None
        self.tls: TcpListener | None = None
        self.serial_ports: dict[str, RtuSlavePort] = {}
        self.master = MasterPusher(on_status=self._statuses_changed)
        self.state: PlantState | None = None
        self.stale_reason: str | None = "no snapshot yet"
        self._logged_stale: str | None = None
        self._raw: bytes | None = None
        self._info: DeviceInfo | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._trust: dict[str, str] = {}
        self._recording: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.new_image = asyncio.Event()

    # --- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.reload_config()
        await self.reload_trust()
        await self.refresh_snapshot()
        self._tasks = [
            asyncio.create_task(self._every(self.poll_s, self.refresh_snapshot)),
            asyncio.create_task(self._every(self.config_every_s, self.reload_config)),
            asyncio.create_task(self._every(self.trust_every_s, self.reload_trust)),
        ]

    async def stop(self) -> None:
        """Close every port and end every task; bounded (about 2 x ``STOP_TIMEOUT_S`` at most)."""
        self._stopping = True
        for listener in (self.tcp, self.tls):
            if listener is not None:
                await listener.stop()
        self.tcp = self.tls = None
        for port in self.serial_ports.values():
            await port.stop()
        self.serial_ports = {}
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks, STOP_TIMEOUT_S, "Modbus slave")
        await self.master.stop(STOP_TIMEOUT_S)

    async def _every(self, interval_s: float, job: Callable[[], Awaitable[None]]) -> None:
        # The flag ends the loop even if a cancellation was swallowed somewhere inside ``job``.
        while not self._stopping:
            await asyncio.sleep(interval_s)
            try:
                await job()
            except Exception:
                log.exception("Modbus slave: %s failed", getattr(job, "__name__", job))

    # --- the snapshot ----------------------------------------------------------------------
    @property
    def plant_id(self) -> int | None:
        return self.config.plant_id if self.config else None

    async def refresh_snapshot(self) -> None:
        plant_id = self.plant_id
        raw = await self.backend.read_snapshot(plant_id) if plant_id is not None else None
        if raw != self._raw:
            self._raw = raw
            self._take(raw, plant_id)
        self._check_stale()

    def _take(self, raw: bytes | None, plant_id: int | None) -> None:
        if raw is None or plant_id is None:
            self.state = None
            return
        try:
            state = snapshot.from_json(raw)
        except pydantic.ValidationError as exc:
            log.warning("snapshot of plant %s does not validate, not served: %s", plant_id, exc)
            self.state = None
            return
        if self.state is not None and state.sequence == self.state.sequence and state.plant_id == self.state.plant_id:
            return
        self.state = state
        if self._info is None:
            self._info = self.backend.product_info(plant_id)
        image = registermap.build_image(state, self._info)
        self.core.image = image
        reading = registermap.served_reading(state)
        if reading is not None:
            self.master.offer(reading)
            self.new_image.set()

    def _check_stale(self) -> None:
        state = self.state
        reason: str | None = None
        if self.plant_id is None:
            reason = "no active plant"
        elif state is None:
            reason = "no snapshot"
        elif state.meter is None or not state.meter_status.online:
            reason = f"meter offline ({state.meter_status.error or 'no reading'})"
        elif self.clock() - state.timestamp.timestamp() > self.max_age_s:
            age = self.clock() - state.timestamp.timestamp()
            reason = f"latest snapshot is {age:.0f} s old"
        self.stale_reason = reason
        if reason is not None:
            self.core.image = None
            if self._logged_stale is None:
                log.warning("Modbus slave answers exception 4 (device failure): %s", reason)
            self._logged_stale = reason
        else:
            if self.core.image is None and state is not None and self._info is not None:
                self.core.image = registermap.build_image(state, self._info)
            if self._logged_stale is not None:
                log.info("Modbus slave serves values again")
            self._logged_stale = None

    # --- configuration ---------------------------------------------------------------------
    async def reload_config(self) -> None:
        config = await asyncio.to_thread(self.backend.load_config)
        if config == self.config or self._stopping:
            return
        previous, self.config = self.config, config
        if previous is None or previous.plant_id != config.plant_id:
            self._raw = None
            self.state = None
            self._info = None
            self.core.image = None
            if config.plant_id is not None:
                self.core.set_controls(await asyncio.to_thread(self.backend.load_command, config.plant_id))
        await self._apply_listeners(config)
        await self._apply_serial(config)
        self.master.configure(config.master)

    async def _apply_listeners(self, config: SlaveConfig) -> None:
        # With TLS on the plain port closes (as on the KSEM: encrypted only).
        want_tcp = config.tcp_enabled and not config.tls_enabled and not self._stopping
        want_tls = config.tcp_enabled and config.tls_enabled and not self._stopping
        if want_tcp and self.tcp is None:
            listener = TcpListener(self.core, self.host, self.tcp_port, limits=self.limits)
            self.tcp = await self._listen(listener, "Modbus TCP")
        elif not want_tcp and self.tcp is not None:
            await self.tcp.stop()
            self.tcp = None
            log.info("Modbus TCP slave off")
        if want_tls and self.tls is None:
            context = tls.server_context(self._identity(), self._note_certificate)
            listener = TcpListener(self.core, self.host, self.tls_port, ssl_context=context, limits=self.limits)
            listener.trust = dict(self._trust)
            self.tls = await self._listen(listener, "Modbus TCP over TLS")
        elif not want_tls and self.tls is not None:
            await self.tls.stop()
            self.tls = None
            log.info("Modbus TLS slave off")

    async def _listen(self, listener: TcpListener, what: str) -> TcpListener | None:
        try:
            await listener.start()
        except OSError as exc:
            log.error("%s: cannot listen on %s:%s: %s", what, listener.host, listener.requested_port, exc)
            return None
        limits = listener.limits
        log.info(
            "%s slave on %s:%d, unit ids %s; at most %d connections, %d per address, idle %g s, request %g s",
            what,
            listener.host,
            listener.port,
            UNIT_IDS,
            limits.max_connections,
            limits.max_per_address,
            limits.idle_timeout_s,
            limits.request_timeout_s,
        )
        return listener

    def _identity(self) -> tls.ServerIdentity:
        if self.tls_dir is None:
            raise RuntimeError("TLS needs a directory for the key pair")
        return tls.ensure_identity(self.tls_dir)

    async def _apply_serial(self, config: SlaveConfig) -> None:
        wanted = {port.name: port for port in config.serial}
        for name, running in list(self.serial_ports.items()):
            want = wanted.get(name)
            if want is None or want.device != running.device or want.line != running.line or not running.running:
                await running.stop()
                del self.serial_ports[name]
        for name, want in wanted.items():
            if name in self.serial_ports:
                continue
            port = RtuSlavePort(self.core, want.device, want.line, name=f"RS485 {name}")
            try:
                await port.start()
            except (OSError, ValueError) as exc:
                # Retried with the next configuration change; logged once per change.
                log.error("RS485 %s: cannot open %s: %s", name, want.device, exc)
                self.serial_ports[name] = port  # not running: replaced when the config changes
                continue
            self.serial_ports[name] = port

    # --- TLS client certificates -----------------------------------------------------------
    async def reload_trust(self) -> None:
        trust = await asyncio.to_thread(self.backend.load_trust)
        if trust == self._trust:
            return
        self._trust = trust
        self._recording -= set(trust)
        if self.tls is not None:
            self.tls.apply_trust(trust)

    def _note_certificate(self, der: bytes) -> None:
        """Called during a TLS handshake with the client's certificate."""
        digest = tls.fingerprint(der)
        if digest in self._trust or digest in self._recording or self._loop is None or self._stopping:
            return
        self._recording.add(digest)
        log.info("Modbus TLS: new client certificate %s (%s), not accepted yet", digest, tls.subject_of(der))
        self._loop.call_soon(lambda: self._tasks.append(asyncio.create_task(self._record(der))))

    async def _record(self, der: bytes) -> None:
        await asyncio.to_thread(self.backend.record_certificate, der)
        await self.reload_trust()

    # --- wallbox commands and master status ------------------------------------------------
    def _store_command(self, controls: WallboxControls) -> bool:
        plant_id = self.plant_id
        if plant_id is None:
            return False
        return self.backend.store_command(plant_id, controls, "modbus-tls")

    def _statuses_changed(self, statuses: dict[int, TargetStatus]) -> None:
        if self._loop is not None:
            self._loop.run_in_executor(None, self.backend.write_target_statuses, dict(statuses))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
