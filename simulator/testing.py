"""The simulator in a background thread, for tests of drivers and services over real sockets.

    with run_simulator_in_thread(seed=3) as sim:
        sim.model.override(pv_power_w=0, house_power_w=2500)
        client = AsyncModbusTcpClient(sim.host, port=sim.port)
        ...
        sim.set_fault("offline")

The server runs its own event loop in its own thread, so it works from sync and async tests alike.
Inverters of the scenario get servers of their own (``sim.ports["roof south"]``, free ports in
tests). With ``clock=False`` simulated time stands still until ``sim.step(moment)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from simulator.model import PlantModel
from simulator.rtu_line import DeviceFault
from simulator.runner import Simulator
from simulator.scenario import Scenario
from simulator.server import Fault, FaultKind
from simulator.state_file import load_state

_STARTUP_TIMEOUT_S = 10.0
_CALL_TIMEOUT_S = 10.0
T = TypeVar("T")


class SimulatorHandle:
    """A running simulator. ``model`` is safe to use from the test's thread."""

    def __init__(self, simulator: Simulator, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.simulator = simulator
        self.model: PlantModel = simulator.model
        self.host = simulator.host
        self.port = simulator.meter_port
        # {"meter": port, "<inverter name>": port, "<wallbox name>": port, ...}
        self.ports: dict[str, int] = simulator.ports
        # {"<wallbox name>": "/dev/pts/N"} with wallbox_pty=True
        self.pty_paths: dict[str, str] = simulator.pty_paths
        self._loop = loop
        self._thread = thread
        self._stop_event = asyncio.Event()

    def set_fault(
        self, kind: str | FaultKind, delay_s: float = 0.0, device: str = "meter", code: int | None = None
    ) -> None:
        """Inject a fault (:class:`simulator.server.FaultKind`: none, offline, slow, exception
        with its ``code``, garbage, wrong_length, truncated, oversized, wrong_unit, bad_crc,
        corrupt) into the meter or the named inverter or wallbox; returns once it is in effect."""
        self._call(self.simulator.set_fault(Fault.parse(kind, delay_s, code), device))

    def set_device_fault(self, device: str, kind: str, delay_s: float = 0.0) -> None:
        """A fault of one device on a simulated RS485 line (also ``bad_crc``, ``wrong_unit``,
        ``wrong_length``); the line's other devices answer as before."""
        self._call(self.simulator.set_fault(DeviceFault.parse(kind, delay_s), device))

    def line_counters(self) -> dict[str, dict[str, Any]]:
        """Per simulated RS485 line: requests, transactions, collisions, CRC errors, busy time."""

        async def read() -> dict[str, dict[str, Any]]:
            now = asyncio.get_running_loop().time()
            return {name: counters.as_dict(now) for name, counters in self.simulator.line_counters().items()}

        return self._call(read())

    def step(self, now: dt.datetime) -> None:
        """Move simulated time to ``now`` (see :meth:`Simulator.step`)."""
        self.simulator.step(now)

    def stop(self) -> None:
        """Stop the servers, save the state file (if any) and end the thread. Idempotent."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(_CALL_TIMEOUT_S)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_TIMEOUT_S)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def run_simulator_in_thread(
    seed: int = 1,
    speed: float = 1.0,
    scenario: Scenario | None = None,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    start: dt.datetime | None = None,
    state_file: str | Path | None = None,
    inverter_port_base: int = 0,
    clock: bool = True,
    sdm630_port: int | None = None,
    wallbox_port_base: int = 0,
    wallbox_pty: bool = False,
    line_time_scale: float = 1.0,
    sdm630_line: str | None = None,
) -> SimulatorHandle:
    """Start a simulator on ``host:port`` (0 = a free port, see ``handle.port``) and return its handle.

    ``start`` is the simulated start time: the argument, else the scenario's, else now.
    Inverters listen on ``inverter_port_base + N`` (default 0: free ports, see ``handle.ports``).
    ``clock=False``: no 200 ms clock; time moves only with ``handle.step(...)``.
    ``sdm630_port``: the grid meter also as an Eastron SDM630 on Modbus RTU over TCP (0 = a free
    port, see ``handle.ports["sdm630"]``).
    Wallboxes speak Modbus RTU over TCP on ``wallbox_port_base + N`` (default 0: free ports, see
    ``handle.ports[name]``); ``wallbox_pty=True`` also serves each on a pty
    (``handle.pty_paths[name]``, a serial device node for pyserial). An inverter whose scenario
    names a ``line`` answers on that line; ``sdm630_line`` puts the SDM630 on a line too
    (``handle.ports["sdm630"]`` is then the line's port).
    """
    scenario = scenario or Scenario()
    moment = start or scenario.start or dt.datetime.now(dt.UTC)
    saved = load_state(state_file) if state_file else None
    model = PlantModel(scenario, seed=seed, start=moment, saved=saved)
    simulator = Simulator(
        model,
        host=host,
        meter_port=port,
        inverter_port_base=inverter_port_base,
        speed=speed,
        state_file=state_file,
        clock=clock,
        sdm630_port=sdm630_port,
        wallbox_port_base=wallbox_port_base,
        wallbox_pty=wallbox_pty,
        line_time_scale=line_time_scale,
        sdm630_line=sdm630_line,
    )
    ready = threading.Event()
    outcome: dict[str, Any] = {}

    async def serve() -> None:
        try:
            await simulator.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread and raised there
            outcome["error"] = exc
            ready.set()
            return
        handle = SimulatorHandle(simulator, asyncio.get_running_loop(), threading.current_thread())
        outcome["handle"] = handle
        ready.set()
        try:
            await handle._stop_event.wait()
        finally:
            await simulator.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name=f"simulator-{seed}", daemon=True)
    thread.start()
    if not ready.wait(_STARTUP_TIMEOUT_S):
        raise TimeoutError("the simulator did not start in time")
    if "error" in outcome:
        raise outcome["error"]
    handle: SimulatorHandle = outcome["handle"]
    return handle
