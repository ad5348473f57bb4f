"""The grid operator's limits in a replay travel over EEBus: the simulated control box
(``simulator.controlbox``, the SPINE energy guard) and the product's SPINE controllable system,
each a SHIP node, connected over TLS on loopback.

The link runs in a thread of its own with an ordinary event loop in real time (SHIP's timers and
TLS must not see the replay's skipping clock). A scenario's ``lpc_w``/``lpp_w`` event makes the box
write the limit and waits for the controllable system's SPINE result; the controllable system's
backend applies the write to the replay's limit store at the event's simulated time, so the trace
stays the same for the same scenario and seed. ``eebus`` events act on the box: ``heartbeat_stop``
and ``heartbeat_resume`` switch its heartbeat, ``disconnect`` drops the SHIP connection and
``reconnect`` dials it again. The heartbeat's effect on the state machine is counted in simulated
time: every cycle while the box's heartbeat runs over a live connection counts as one received.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from energy import gridlimit as g
from energy import gridlimit_history as gh
from simulator.controlbox import ControlBox, FileTrustStore
from smartgrid.ship import MemoryTrustStore, ShipNode
from smartgrid.ship.identity import ephemeral_identity
from smartgrid.spine.backend import Direction, GridMeasurements, PowerLimit, Rejected
from smartgrid.spine.cs import ControllableSystem, Identity

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0
PRODUCT_DEVICE = {"brand": "KOSTAL", "model": "KSEM G2", "type": "EnergyManagementSystem", "serial": "replay",
                  "categories": [2]}  # fmt: skip


class StoreBackend:
    """The controllable system's backend on the replay's limit store, at the replay's simulated time."""

    def __init__(self, store: gh.LimitStore, clock: Callable[[], dt.datetime], lock: threading.Lock) -> None:
        self.store = store
        self.clock = clock
        self.lock = lock

    async def limit(self, direction: Direction) -> PowerLimit:
        with self.lock:
            now = self.clock()
            facts, _ = g.advance(self.store.facts, now)
        written = facts.machine(str(direction)).limit
        if written is None:
            return PowerLimit(active=False, value_w=0.0)
        until = written.valid_until
        remaining = max(0.0, (until - now).total_seconds()) if until is not None else None
        return PowerLimit(active=written.active, value_w=written.value_w, duration_s=remaining)

    async def write_limit(self, direction: Direction, limit: PowerLimit, peer_ski: str) -> None:
        with self.lock:
            try:
                self.store.write_limit(
                    str(direction), active=limit.active, value_w=limit.value_w, duration_s=limit.duration_s,
                    at=self.clock(),
                )  # fmt: skip
            except g.Rejected as exc:
                raise Rejected(exc.reason) from None

    async def failsafe_value_w(self, direction: Direction) -> float:
        with self.lock:
            return self.store.facts.failsafe_w(str(direction))

    async def failsafe_duration_s(self) -> float:
        with self.lock:
            return self.store.facts.failsafe_duration_s

    async def write_failsafe(
        self, direction: Direction | None, value_w: float | None, duration_s: float | None, peer_ski: str
    ) -> None:
        with self.lock:
            try:
                self.store.write_failsafe(str(direction) if direction else None, value_w, duration_s)
            except g.Rejected as exc:
                raise Rejected(exc.reason) from None

    async def nominal_max_w(self, direction: Direction) -> float:
        with self.lock:
            facts = self.store.facts
        return facts.consumption_nominal_max_w if direction == Direction.CONSUME else facts.production_nominal_max_w

    async def heartbeat(self, peer_ski: str, counter: int | None) -> None:
        return None  # counted in simulated time by the replay (EebusLink.heartbeat_live)

    async def measurements(self) -> GridMeasurements | None:
        return None


class EebusLink:
    def __init__(self, store: gh.LimitStore, clock: Callable[[], dt.datetime], lock: threading.Lock) -> None:
        self.backend = StoreBackend(store, clock, lock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay-eebus", daemon=True)
        self.box: ControlBox | None = None
        self.node: ShipNode | None = None
        self.system: ControllableSystem | None = None
        self._connected = threading.Event()
        self.writes: list[dict[str, Any]] = []

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_S)

    # --- start and stop ---

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    async def _start(self) -> None:
        product = ephemeral_identity("KOSTAL-KSEM-G2-replay")
        box_identity = ephemeral_identity("KSEM-Sim-ControlBox-replay")
        self.box = ControlBox(box_identity, FileTrustStore([product.ski], None), host="127.0.0.1", port=0, mdns=False)
        await self.box.start()
        self.system = ControllableSystem(self.backend, Identity("KOSTAL", "KSEM G2", "replay", product.ship_id))
        self.node = ShipNode(
            product, MemoryTrustStore({box_identity.ski: None}), host="127.0.0.1", port=0,
            device=PRODUCT_DEVICE, on_connection=self._serve, mdns=False,
        )  # fmt: skip
        await self.node.start()
        await self._connect()

    async def _connect(self) -> None:
        assert self.node is not None and self.box is not None
        await self.node.connect("127.0.0.1", self.box.port, self.box.identity.ski)
        await self.box.wait_connected(CALL_TIMEOUT_S)
        for guard in list(self.box.guards.values()):
            await asyncio.wait_for(guard.ready.wait(), CALL_TIMEOUT_S)

    async def _serve(self, connection: Any) -> None:
        assert self.system is not None
        self._connected.set()
        try:
            await self.system.serve(connection)
        finally:
            self._connected.clear()

    def stop(self) -> None:
        async def stop() -> None:
            if self.box is not None:
                await self.box.stop()
            if self.node is not None:
                await self.node.stop()

        try:
            self._call(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    # --- what the scenario's events do ---

    def write_limit(self, kind: str, value_w: float, duration_s: float | None) -> list[dict[str, Any]]:
        """The box writes the limit; the controllable system's SPINE results (error 0 = accepted)."""
        assert self.box is not None
        results = self._call(self.box.write_limit(kind, value_w, duration_s, True))
        self.writes.append({"kind": kind, "value_w": value_w, "duration_s": duration_s, "results": results})
        return results

    def set_heartbeat(self, running: bool) -> None:
        assert self.box is not None
        box = self.box
        self._loop.call_soon_threadsafe(box.set_heartbeat, running)
        box.heartbeat_running = running

    def disconnect(self) -> None:
        self._call(self._disconnect())

    async def _disconnect(self) -> None:
        assert self.box is not None
        await self.box.disconnect()
        for _ in range(100):  # the connection's tasks end within a few ms
            if not self.box.connections:
                return
            await asyncio.sleep(0.05)

    def reconnect(self) -> None:
        if not self.connected:
            self._call(self._connect())

    @property
    def connected(self) -> bool:
        return bool(self.box and self.box.connections)

    def heartbeat_live(self) -> bool:
        return bool(self.box and self.box.heartbeat_running and self.connected)
