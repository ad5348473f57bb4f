"""``python -m simulator.controlbox``: a simulated grid operator's control box (energy guard).

It stands for the control box behind a smart-meter gateway that dims a plant under §14a EnWG: a
SHIP node of its own (port 4712 by default, announced over mDNS as a grid connection hub) with
the SPINE energy guard of LPC and LPP (``smartgrid.spine.eg``): it writes consumption and
production limits and failsafe values to the controllable systems it is connected to, and
sends a heartbeat that can be stopped and resumed.

Trust: the SKIs in ``--trust`` and in the file ``<state dir>/trusted`` (one per line, re-read
every second), so ``make run``'s bootstrap couples it with the product's first plant by writing
that file; its own SKI is written to ``<state dir>/ski`` for the other direction. Its
certificate lives in the state directory (created once).

Scripting (HTTP on ``--control-port``, 127.0.0.1 only; JSON in and out):

    GET  /state                                   connections, what was written, heartbeat
    POST /lpc  {"value_w": 4200, "duration_s": 900, "active": true}
    POST /lpp  {"value_w": 3000, "duration_s": 900, "active": true}
    POST /failsafe {"lpc_w": 4200, "lpp_w": 6000, "duration_s": 7200}
    POST /heartbeat {"running": false}            stop (true: resume) the heartbeat
    POST /disconnect                              close every connection (the peers reconnect)
    POST /connect {"host": "127.0.0.1", "port": 4711, "ski": "..."}   dial a controllable system

The simulator may import ``smartgrid.ship`` and ``smartgrid.spine`` (the EEBus stack) and
nothing else of the product.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartgrid.ship import ShipNode
from smartgrid.ship.identity import ShipIdentity, load_or_create_identity, normalize_ski
from smartgrid.ship.trust import MemoryTrustStore
from smartgrid.spine.backend import Direction
from smartgrid.spine.cs import Identity as SpineIdentity
from smartgrid.spine.eg import EnergyGuard

log = logging.getLogger("simulator.controlbox")

DEFAULT_PORT = 4712
DEFAULT_CONTROL_PORT = 4713
DEVICE: dict[str, Any] = {
    "brand": "KSEM-Sim",
    "model": "ControlBox",
    "type": "ElectricitySupplySystem",
    "serial": "SIM-0001",
    "categories": [1],  # SHIP device category 1: grid connection hub (the grid operator's control unit)
}
MAX_BODY = 4096
_SKI_LINE = re.compile(r"^[0-9a-fA-F:\-\s]{40,80}$")


@dataclass
class Written:
    lpc: dict[str, Any] | None = None
    lpp: dict[str, Any] | None = None
    failsafe: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


class FileTrustStore(MemoryTrustStore):
    """The SKIs of ``--trust`` and of a file, re-read every second."""

    def __init__(self, fixed: list[str], path: Path | None) -> None:
        super().__init__()
        self.fixed = [normalize_ski(ski) for ski in fixed]
        self.path = path
        for ski in self.fixed:
            self.trust(ski)

    def reload(self) -> None:
        if self.path is None or not self.path.exists():
            return
        wanted = set(self.fixed)
        for line in self.path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and _SKI_LINE.match(line):
                with contextlib.suppress(ValueError):
                    wanted.add(normalize_ski(line))
        current = set(self.trusted_skis())
        for ski in wanted - current:
            self.trust(ski)
        for ski in current - wanted:
            self.untrust(ski)


class ControlBox:
    """The energy guard over SHIP: one ``EnergyGuard`` per connected controllable system."""

    def __init__(
        self,
        identity: ShipIdentity,
        trust: FileTrustStore,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        mdns: bool = True,
        mdns_interfaces: list[str] | None = None,
        heartbeat_interval_s: float = 8.0,
    ) -> None:
        self.identity = identity
        self.trust = trust
        self.node = ShipNode(
            identity,
            trust,
            host=host,
            port=port,
            device=DEVICE,
            on_connection=self._on_connection,
            mdns=mdns,
            mdns_interfaces=mdns_interfaces,
        )
        self.guards: dict[str, EnergyGuard] = {}
        self.connections: dict[str, Any] = {}
        self.heartbeat_running = True
        self.heartbeat_interval_s = heartbeat_interval_s
        self.written = Written()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connected_event = asyncio.Event()

    @property
    def port(self) -> int:
        return int(self.node.port)

    async def start(self) -> None:
        self.trust.reload()
        await self.node.start()
        self._spawn(self._reload_trust())
        log.info("control box on SHIP port %s, SKI %s", self.node.port, self.identity.ski)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for connection in list(self.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close("control box stopping"), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.node.stop(), 3.0)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_trust(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.trust.reload()
            except OSError as exc:
                log.warning("cannot read the trust file: %s", exc)
            for ski, connection in list(self.connections.items()):
                if not self.trust.is_trusted(ski):
                    with contextlib.suppress(Exception):
                        await connection.close("decoupled")

    async def _on_connection(self, connection: Any) -> None:
        ski = str(connection.remote_ski)
        guard = EnergyGuard(
            SpineIdentity(DEVICE["brand"], DEVICE["model"], DEVICE["serial"], self.identity.ship_id),
            heartbeat_interval_s=self.heartbeat_interval_s,
        )
        if not self.heartbeat_running:
            guard.stop_heartbeat()
        self.guards[ski] = guard
        self.connections[ski] = connection
        self.connected_event.set()
        log.info("controllable system %s connected", ski)
        try:
            await guard.serve(connection)
        except (ConnectionError, OSError) as exc:
            log.info("connection with %s ended: %s", ski, exc)
        finally:
            if self.guards.get(ski) is guard:
                del self.guards[ski]
                del self.connections[ski]
            if not self.connections:
                self.connected_event.clear()

    async def wait_connected(self, timeout_s: float) -> None:
        await asyncio.wait_for(self.connected_event.wait(), timeout_s)

    async def write_limit(self, kind: str, value_w: float, duration_s: float | None, active: bool = True) -> list[Any]:
        """Write an LPC or LPP active limit to every connected controllable system; their answers
        as [{"ski", "error": SPINE error number (0 = accepted), "description"}]."""
        setattr(self.written, kind, {"value_w": value_w, "duration_s": duration_s, "active": active, "at": time.time()})
        direction = Direction.CONSUME if kind == "lpc" else Direction.PRODUCE
        results = []
        for ski, guard in list(self.guards.items()):
            if not guard.ready.is_set():  # SPINE discovery still running: give it a moment
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(guard.ready.wait(), 10.0)
            error, description = await guard.write_limit(direction, active, value_w, duration_s)
            results.append({"ski": ski, "error": int(error), "description": description})
        self.written.results = results
        return results

    async def write_failsafe(
        self, lpc_w: float | None = None, lpp_w: float | None = None, duration_s: float | None = None
    ) -> list[Any]:
        self.written.failsafe = {"lpc_w": lpc_w, "lpp_w": lpp_w, "duration_s": duration_s}
        results = []
        for ski, guard in list(self.guards.items()):
            for direction, value in ((Direction.CONSUME, lpc_w), (Direction.PRODUCE, lpp_w), (None, None)):
                if direction is not None and value is None:
                    continue
                if direction is None and duration_s is None:
                    continue
                error, description = await guard.write_failsafe(
                    direction, value, duration_s if direction is None else None
                )
                results.append({"ski": ski, "error": int(error), "description": description})
        return results

    def set_heartbeat(self, running: bool) -> None:
        self.heartbeat_running = running
        for guard in self.guards.values():
            if running:
                guard.resume_heartbeat()
            else:
                guard.stop_heartbeat()

    async def disconnect(self) -> int:
        closed = 0
        for connection in list(self.connections.values()):
            with contextlib.suppress(Exception):
                await connection.close("disconnected by the control box's script")
                closed += 1
        return closed

    async def connect(self, host: str, port: int, ski: str) -> None:
        ski = normalize_ski(ski)
        self.trust.fixed.append(ski)
        self.trust.trust(ski)
        connection = await self.node.connect(host, port, ski)
        if connection is not None and ski not in self.connections:
            self._spawn(self._on_connection(connection))

    def state(self) -> dict[str, Any]:
        return {
            "ski": self.identity.ski,
            "ship_id": self.identity.ship_id,
            "port": self.port,
            "connected": sorted(self.connections),
            "heartbeat": self.heartbeat_running,
            "lpc": self.written.lpc,
            "lpp": self.written.lpp,
            "failsafe": self.written.failsafe,
            "last_results": self.written.results,
            "observed": {ski: _observed(guard) for ski, guard in self.guards.items()},
        }


def _observed(guard: EnergyGuard) -> dict[str, Any]:
    """What the guard learnt of the controllable system: its limits, failsafe values, measurements."""
    return {
        "ready": guard.ready.is_set(),
        "limits": {
            str(direction): {"active": limit.active, "value_w": limit.value_w, "duration_s": limit.duration_s}
            for direction, limit in guard.limits.items()
        },
        "failsafe_w": {str(direction): value for direction, value in guard.failsafe_w.items()},
        "failsafe_duration_s": guard.failsafe_duration_s,
        "nominal_max_w": dict(guard.nominal_max_w),
        "measurements": dict(guard.measurements),
        "heartbeats_received": len(guard.heartbeats),
    }


# --- the scripting interface ----------------------------------------------------------------


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _number(body: dict[str, Any], key: str, *, required: bool = True, low: float = -1e7, high: float = 1e7) -> Any:
    if key not in body or body[key] is None:
        if required:
            raise RequestError(400, f"{key} is missing")
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(400, f"{key} must be a number")
    if not low <= value <= high:
        raise RequestError(400, f"{key} must be between {low:g} and {high:g}")
    return value


async def handle_request(box: ControlBox, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "GET" and path == "/state":
        return box.state()
    if method != "POST":
        raise RequestError(404, f"no {method} {path}")
    if path in ("/lpc", "/lpp"):
        value = _number(body, "value_w", low=0, high=1e7)
        duration = _number(body, "duration_s", required=False, low=0, high=86400 * 365)
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise RequestError(400, "active must be true or false")
        return {"results": await box.write_limit(path[1:], value, duration, active)}
    if path == "/failsafe":
        values = {key: _number(body, key, required=False, low=0, high=1e7) for key in ("lpc_w", "lpp_w", "duration_s")}
        return {"results": await box.write_failsafe(**{k: v for k, v in values.items() if v is not None})}
    if path == "/heartbeat":
        running = body.get("running")
        if not isinstance(running, bool):
            raise RequestError(400, "running must be true or false")
        box.set_heartbeat(running)
        return {"heartbeat": running}
    if path == "/disconnect":
        return {"closed": await box.disconnect()}
    if path == "/connect":
        host = body.get("host")
        if not isinstance(host, str) or not host:
            raise RequestError(400, "host is missing")
        port = _number(body, "port", low=1, high=65535)
        try:
            await box.connect(host, int(port), str(body.get("ski", "")))
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise RequestError(502, f"connection failed: {exc}") from None
        return {"connected": sorted(box.connections)}
    raise RequestError(404, f"no {method} {path}")


async def _http(box: ControlBox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    status, answer = 200, {}
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > MAX_BODY:
            raise RequestError(413, f"body over {MAX_BODY} bytes")
        raw = await asyncio.wait_for(reader.readexactly(length), 5.0) if length else b""
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        answer = await handle_request(box, method.upper(), target.split("?", 1)[0], body)
    except RequestError as exc:
        status, answer = exc.status, {"error": str(exc)}
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        status, answer = 400, {"error": f"bad request: {exc}"}
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        writer.close()
        return
    except Exception as exc:  # keep serving whatever a script sends
        log.exception("control request failed")
        status, answer = 500, {"error": str(exc)}
    data = json.dumps(answer, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Too Large", 502: "Bad Gateway"}.get(
        status, "Error"
    )
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + data
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


async def serve_control(box: ControlBox, host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _http(box, r, w), host, port)


def load_identity(state_dir: Path) -> ShipIdentity:
    """The box's certificate in ``state_dir`` (created once); its SKI is written to ``state_dir/ski``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    identity = load_or_create_identity(
        state_dir, ship_id="KSEM-Sim-ControlBox-SIM-0001", common_name="KSEM-Sim-ControlBox", organization="KSEM-Sim"
    )
    (state_dir / "ski").write_text(identity.ski + "\n", encoding="utf-8")
    return identity


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator.controlbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="SHIP address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="SHIP port (default %(default)s)")
    parser.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT, help="HTTP scripting port")
    parser.add_argument("--state-dir", default="var/eebus/controlbox", help="certificate, key, ski, trusted")
    parser.add_argument("--trust", action="append", default=[], metavar="SKI", help="trust this SKI (repeatable)")
    parser.add_argument("--no-mdns", action="store_true", help="no mDNS announce and browse")
    parser.add_argument("--mdns-interfaces", default="", help="comma-separated addresses to announce on")
    return parser


async def _main(args: argparse.Namespace, ready: Callable[[ControlBox], None] | None = None) -> None:
    state_dir = Path(args.state_dir)
    identity = load_identity(state_dir)
    trust = FileTrustStore(args.trust, state_dir / "trusted")
    interfaces = [part for part in args.mdns_interfaces.split(",") if part] or None
    if interfaces is None and args.host in ("127.0.0.1", "localhost"):
        interfaces = ["127.0.0.1"]  # a box on loopback announces itself on loopback only
    box = ControlBox(identity, trust, host=args.host, port=args.port, mdns=not args.no_mdns, mdns_interfaces=interfaces)
    await box.start()
    control = await serve_control(box, "127.0.0.1", args.control_port)
    control_port = control.sockets[0].getsockname()[1]
    print(f"control box: SHIP port {box.port}, SKI {identity.ski}, scripting http://127.0.0.1:{control_port}/state",
          flush=True)  # fmt: skip
    if ready is not None:
        ready(box)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        control.close()
        await box.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
