"""The running simulator: one plant model, the device servers in front of it, and the clock.

Each device server (the grid meter, one per inverter, one per wallbox; later the EEBus control
box) is started and stopped together and reads the same :class:`PlantModel`. Inverter N of the
scenario (counted from 1) listens on ``inverter_port_base + N``. Wallboxes hang on simulated RS485
lines (:mod:`simulator.rtu_line`): boxes that name one ``line`` share it, a box without one has a
line of its own; an inverter naming a ``line`` answers there at its ``address`` instead of on a
TCP port, and ``sdm630_line`` puts the SDM630 on a line (at address 1) the same way. Line N (in
the order of its first device, boxes first) speaks Modbus RTU over TCP on ``wallbox_port_base + N``
(0 = any free port) and, with ``wallbox_pty``, also on a pty (:attr:`Simulator.pty_paths`). Every
line runs at the ENECTOR's 57600 8N2 (its byte time); the devices on it answer whatever settings
the master uses, as nothing of the serial settings travels over RTU-over-TCP. ``line_time_scale`` scales the lines' byte time (1.0: real time at
the baud rate; a stepped replay shrinks it).

Time runs in one of two ways: the 200 ms clock (``clock=True``) advances the model by the wall
time since the last tick, times ``speed``; or, for a stepped replay, nothing runs by itself and
:meth:`Simulator.step` moves the model to a given simulated time. Either way every server answers
from the model as it is at its current time, and a write applies at that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import Protocol

from pymodbus.framer import FramerType

from meter import sdm630
from simulator.enector_rtu import EnectorRegisters, RtuSlave
from simulator.grid_meter import METER_UNIT_IDS, GridMeterRegisters
from simulator.inverters import register_source
from simulator.line_slave import line_slave
from simulator.model import PlantModel
from simulator.rtu_line import DeviceFault, LineCounters, LineDevice, RtuLineServer, lines_of
from simulator.sdm630 import Sdm630Registers
from simulator.server import Fault, ModbusDeviceServer
from simulator.state_file import save_state

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.2  # the KSEM's measuring interval
SAVE_INTERVAL_S = 10.0
DEFAULT_METER_PORT = 15020
DEFAULT_INVERTER_PORT_BASE = 15020  # inverter N on 15020 + N
DEFAULT_WALLBOX_PORT_BASE = 15029  # wallbox N on 15029 + N: 15030, 15031, ...


class DeviceServer(Protocol):
    name: str

    @property
    def port(self) -> int: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def set_fault(self, fault: Fault) -> None: ...


class Simulator:
    def __init__(
        self,
        model: PlantModel,
        *,
        host: str = "127.0.0.1",
        meter_port: int = DEFAULT_METER_PORT,
        inverter_port_base: int = DEFAULT_INVERTER_PORT_BASE,
        speed: float = 1.0,
        state_file: str | Path | None = None,
        clock: bool = True,
        sdm630_port: int | None = None,
        wallbox_port_base: int = DEFAULT_WALLBOX_PORT_BASE,
        wallbox_pty: bool = False,
        line_time_scale: float = 1.0,
        sdm630_line: str | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be greater than 0, got {speed}")
        self.model = model
        self.host = host
        self.speed = speed
        self.state_file = Path(state_file) if state_file else None
        self.servers: dict[str, DeviceServer] = {}
        self.run_clock = clock
        self._started = False
        self._clock: asyncio.Task[None] | None = None
        self.add_server(
            ModbusDeviceServer("meter", GridMeterRegisters(model), host=host, port=meter_port, unit_ids=METER_UNIT_IDS)
        )
        for number, name in enumerate(model.inverter_names, start=1):
            if model.inverter_config(name).line is not None:
                continue  # on an RS485 line, below
            source = register_source(model, name)
            port = inverter_port_base + number if inverter_port_base else 0
            self.add_server(ModbusDeviceServer(name, source, host=host, port=port, unit_ids=source.unit_ids))
        # RS485 lines: devices naming one line share it (one port, one wire), the boxes first, then
        # the inverters and the SDM630 on a line; a box without a line has one of its own, named
        # after it. Line N (in order of its first device) is on base + N.
        self.line_of: dict[str, str] = {}
        devices: dict[str, tuple[int, LineDevice]] = {}
        placed: list[tuple[str, str | None]] = []
        for name in model.wallbox_names:
            devices[name] = (model.wallbox_address(name), RtuSlave(EnectorRegisters(model, name)))
            placed.append((name, model.wallbox_config(name).line))
        for name in model.inverter_names:
            inverter = model.inverter_config(name)
            if inverter.line is not None:
                devices[name] = (inverter.address, line_slave(name, register_source(model, name), inverter.address))
                placed.append((name, inverter.line))
        if sdm630_line is not None:
            if sdm630_port is not None:
                raise ValueError("the SDM630 is either on a line (sdm630_line) or on a port of its own (sdm630_port)")
            devices["sdm630"] = (sdm630.UNIT_ID, line_slave("sdm630", Sdm630Registers(model), sdm630.UNIT_ID))
            placed.append(("sdm630", sdm630_line))
        for number, (line, names) in enumerate(lines_of(placed).items(), start=1):
            addresses: dict[int, str] = {}
            for name in names:
                address = devices[name][0]
                other = addresses.setdefault(address, name)
                if other != name:
                    raise ValueError(f"{other!r} and {name!r} both answer at address {address} on line {line}")
                self.line_of[name] = line
            port = wallbox_port_base + number if wallbox_port_base else 0
            self.add_server(
                RtuLineServer(
                    line,
                    {name: devices[name][1] for name in names},
                    host=host,
                    port=port,
                    pty=wallbox_pty,
                    time_scale=line_time_scale,
                )
            )
        if sdm630_port is not None:  # the grid meter also as an SDM630, RTU over TCP (0 = any free port)
            sdm = Sdm630Registers(model)
            self.add_server(
                ModbusDeviceServer(
                    "sdm630", sdm, host=host, port=sdm630_port, unit_ids=sdm.unit_ids, framer=FramerType.RTU
                )
            )

    def add_server(self, server: DeviceServer) -> None:
        if self._started:
            raise RuntimeError("add device servers before start()")
        self.servers[server.name] = server

    @property
    def meter_port(self) -> int:
        return self.servers["meter"].port

    @property
    def ports(self) -> dict[str, int]:
        """{device name: bound port}: "meter", every inverter, every RS485 line and every device
        on a line (box, inverter, "sdm630") by its name (the port of its line)."""
        ports = {name: server.port for name, server in self.servers.items()}
        ports.update({box: self.servers[line].port for box, line in self.line_of.items()})
        return ports

    @property
    def pty_paths(self) -> dict[str, str]:
        """{device on a line (box, inverter, "sdm630"): the pty device node of its line} (with ``wallbox_pty``)."""
        paths = {}
        for box, line in self.line_of.items():
            server = self.servers[line]
            if isinstance(server, RtuLineServer) and server.pty_path is not None:
                paths[box] = server.pty_path
        return paths

    @property
    def lines(self) -> dict[str, RtuLineServer]:
        """The simulated RS485 lines by name."""
        return {name: server for name, server in self.servers.items() if isinstance(server, RtuLineServer)}

    def line_counters(self) -> dict[str, LineCounters]:
        """Per line: transactions, collisions, CRC errors, busy time."""
        return {name: server.counters for name, server in self.lines.items()}

    def port_of(self, device: str) -> int:
        """The port of "meter", of an inverter, of a line or of a wallbox (its line's) by name."""
        if device in self.line_of:
            return self.servers[self.line_of[device]].port
        if device not in self.servers:
            raise KeyError(f"no device server {device!r}; known: {', '.join(self.servers)}")
        return self.servers[device].port

    def step(self, now: dt.datetime) -> None:
        """Move the model to simulated time ``now`` (stepped replay; thread-safe, no event loop
        needed). Reads from then on see the plant at ``now``; writes apply at ``now``."""
        self.model.advance(now)

    async def start(self, clock: bool | None = None) -> None:
        """Start every server, and the 200 ms clock unless ``clock`` (default: as constructed) is off."""
        if clock is not None:
            self.run_clock = clock
        started: list[DeviceServer] = []
        try:
            for server in self.servers.values():
                await server.start()
                started.append(server)
        except BaseException:
            for server in started:
                await server.stop()
            raise
        self._started = True
        if self.run_clock:
            self._clock = asyncio.create_task(self._run_clock(), name="simulator clock")

    async def stop(self) -> None:
        """Stop the clock and every server, then save the state (if there is a state file)."""
        clock, self._clock = self._clock, None
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        for server in self.servers.values():
            await server.stop()
        self._started = False
        self.save_state()

    async def set_fault(self, fault: Fault | DeviceFault, device: str = "meter") -> None:
        """A fault of one device; a wallbox that shares its line with others misbehaves alone
        (the line's other devices answer), one alone on its line takes the line with it.
        :class:`DeviceFault` kinds beyond the common ones (bad_crc, wrong_unit, wrong_length)
        are for devices on a line."""
        line = self.line_of.get(device)
        if line is not None:
            server = self.lines[line]
            if len(server.device_names) > 1 or isinstance(fault, DeviceFault):
                kind = fault.kind if isinstance(fault, DeviceFault) else fault.kind.value
                await server.set_device_fault(device, DeviceFault.parse(kind, fault.delay_s))
                return
            device = line
        if isinstance(fault, DeviceFault):
            fault = Fault.parse(fault.kind, fault.delay_s)
        if device not in self.servers:
            raise KeyError(f"no device server {device!r}; known: {', '.join(self.servers)}")
        await self.servers[device].set_fault(fault)

    async def apply_faults(self, faults: dict[str, Fault]) -> None:
        """Set these faults (``{device: fault}``) and clear every other device's; all are
        checked first, so a bad entry changes nothing."""
        unknown = [device for device in faults if device not in self.servers]
        if unknown:
            raise KeyError(f"no device server {', '.join(map(repr, unknown))}; known: {', '.join(self.servers)}")
        for name, server in self.servers.items():
            fault = faults.get(name, Fault())
            if fault != getattr(server, "fault", None):
                await server.set_fault(fault)

    def save_state(self) -> None:
        """Best effort: a full disk must not stop the plant, only be reported."""
        if self.state_file is None:
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            save_state(self.state_file, self.model.saved_state())
        except OSError as exc:
            log.warning("cannot save the simulator state to %s: %s", self.state_file, exc)

    async def _run_clock(self) -> None:
        """Advance the model by the wall time since the last tick, times the speed.

        Stepping from the model's own time (not from a fixed origin) lets a test jump the
        model forward with ``model.advance(...)``; the clock simply continues from there.
        """
        loop = asyncio.get_running_loop()
        wall_start_s = last_wall_s = loop.time()
        next_save_s = wall_start_s + SAVE_INTERVAL_S
        ticks = 0
        while True:
            ticks += 1
            # Sleep to a fixed schedule so a slow tick does not push the following ones back.
            await asyncio.sleep(max(0.0, wall_start_s + ticks * TICK_INTERVAL_S - loop.time()))
            wall_now_s = loop.time()
            elapsed = dt.timedelta(seconds=(wall_now_s - last_wall_s) * self.speed)
            last_wall_s = wall_now_s
            self.model.advance(self.model.now + elapsed)
            if wall_now_s >= next_save_s:
                next_save_s = wall_now_s + SAVE_INTERVAL_S
                self.save_state()
