"""The Modbus slave under load, against a stock pymodbus server (MB-1..MB-3).

TCP and TLS: 20 concurrent clients (one connection each, one request in flight, as Modbus
masters do) read registers 0-27 for 10 s from ``manage.py serve_modbus`` serving live data
(a new snapshot every second, as the cycle publishes), then the same load against a stock
pymodbus server holding a static block of 28 registers. The clients are raw asyncio sockets,
so the client side costs as little as possible. ``ratio_to_stock_server`` = our rate / stock rate.

RTU: the slave on a pseudo-terminal pair at 38400 8N2 answers 1000 reads of 0-27 one after
another; its own time per transaction (first byte of the request handled -> answer ready, measured
inside the server) against the line time of the same transaction at 38400 baud (frame sizes
and the two t3.5 gaps: ``modbus.rtu.line_time_s``).

Targets: TCP >= 10,000 requests/s, p99 <= 5 ms and >= 0.8 of the stock server's rate; RTU own
time <= 10 % of the line time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redisconn
from bench.common import django_env, summary, write_result

CLIENTS = 20
REQUEST_COUNT = 28
ANSWER_BYTES = 9 + 2 * REQUEST_COUNT
HOST = "127.0.0.1"


# --- the load -------------------------------------------------------------------------------
class _Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.waiter: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= ANSWER_BYTES and self.waiter is not None and not self.waiter.done():
            answer, self.buffer = self.buffer[:ANSWER_BYTES], self.buffer[ANSWER_BYTES:]
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


async def load(port: int, seconds: float, context: ssl.SSLContext | None = None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0

    async def one(n: int) -> None:
        nonlocal errors
        # Four source addresses, five clients each: below the slave's per-address limit (16).
        source = (f"127.0.0.{1 + n % 4}", 0)
        transport, client = await loop.create_connection(_Client, HOST, port, ssl=context, local_addr=source)
        transaction = 0
        try:
            while time.perf_counter() < end:
                transaction = (transaction + 1) & 0xFFFF
                client.waiter = loop.create_future()
                started = time.perf_counter()
                transport.write(struct.pack(">HHHBBHH", transaction, 0, 6, 1, 3, 0, REQUEST_COUNT))
                answer = await asyncio.wait_for(client.waiter, 5)
                latencies.append(time.perf_counter() - started)
                if answer[7] != 3 or answer[:2] != struct.pack(">H", transaction):
                    errors += 1
        finally:
            transport.close()

    end = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    ms = [value * 1000 for value in latencies]
    figures = summary(ms)
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": figures["p50"],
        "p99_ms": figures["p99"],
        "max_ms": figures["max"],
    }


# --- the stock server (its own process) -----------------------------------------------------
def stock_server(port: int, tls_dir: str | None) -> None:
    from pymodbus.server import ModbusTcpServer, ModbusTlsServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    device = SimDevice(
        1, simdata=[SimData(0, count=REQUEST_COUNT, values=list(range(REQUEST_COUNT)), datatype=DataType.REGISTERS)]
    )

    async def serve() -> None:
        server: ModbusTcpServer
        if tls_dir:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(f"{tls_dir}/server-cert.pem", f"{tls_dir}/server-key.pem")
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(f"{tls_dir}/client.pem")
            server = ModbusTlsServer(device, address=(HOST, port), sslctx=context)
        else:
            server = ModbusTcpServer(device, address=(HOST, port))
        await server.serve_forever()

    asyncio.run(serve())


def rtu_server(path: str) -> None:
    """Serve a fixed snapshot on ``path``; print the own times (JSON) when terminated."""
    from modbus import registermap, rtu
    from modbus.slave.core import SlaveCore
    from modbus.slave.rtu import RtuSlavePort
    from modbus.tests.conftest import info, make_state

    async def serve() -> None:
        core = SlaveCore()
        core.image = registermap.build_image(make_state(), info())
        port = RtuSlavePort(core, path, rtu.PRESETS["plenticore"], name="bench")
        await port.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await port.stop()
        print(json.dumps([t * 1000 for t in port.own_times_s]), flush=True)

    asyncio.run(serve())


# --- helpers --------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def client_context(directory: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(directory / "client.pem", directory / "client.key")
    return context


def make_client_certificate(directory: Path) -> str:
    from modbus.tests.test_slave_tls import client_certificate

    cert, key, fingerprint = client_certificate(directory, "client")
    assert cert.name == "client.pem" and key.name == "client.key"
    return fingerprint


def run_stock(port: int, seconds: float, tls_dir: Path | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.modbus_slave", "--stock-server", str(port)]
    if tls_dir is not None:
        args += ["--tls-dir", str(tls_dir)]
    process = subprocess.Popen(args)
    try:
        wait_port(port)
        context = client_context(tls_dir) if tls_dir is not None else None
        return asyncio.run(load(port, seconds, context))
    finally:
        process.terminate()
        process.wait(10)


# --- the benchmark --------------------------------------------------------------------------
def tcp_and_tls(seconds: float) -> dict[str, Any]:
    with django_env("modbus") as var_dir:
        from django.conf import settings

        from energy import snapshot
        from modbus import services
        from modbus.models import ClientCertificate
        from modbus.tests.conftest import make_state
        from plant import live
        from plant.models import Plant

        plant = Plant.objects.create(name="bench")
        tcp_port, tls_port = free_port(), free_port()
        stop = threading.Event()

        def publish() -> None:  # the cycle: a new snapshot every second
            sequence = 0
            while not stop.is_set():
                sequence += 1
                state = make_state(sequence, power_w=1000.0 + sequence, plant_id=plant.pk)
                redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(state))
                stop.wait(1.0)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        env = dict(os.environ, KSEM_VAR_DIR=str(var_dir), KSEM_REDIS_PREFIX=settings.REDIS_KEY_PREFIX)
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve_modbus", "--port", str(tcp_port), "--tls-port", str(tls_port)],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            wait_port(tcp_port)
            time.sleep(1.0)
            ours_tcp = asyncio.run(load(tcp_port, seconds))
            fingerprint = make_client_certificate(var_dir)
            ClientCertificate.objects.create(fingerprint=fingerprint, subject="CN=client", status="accepted")
            modbus_settings = services.get_settings()
            modbus_settings.tls_enabled = True
            modbus_settings.save()
            wait_port(tls_port)
            time.sleep(1.0)
            ours_tls = asyncio.run(load(tls_port, seconds, client_context(var_dir)))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)
            stop.set()
        (var_dir / "server-cert.pem").write_bytes((services.tls_dir() / "server-cert.pem").read_bytes())
        (var_dir / "server-key.pem").write_bytes((services.tls_dir() / "server-key.pem").read_bytes())
        stock_tcp = run_stock(free_port(), seconds, None)
        stock_tls = run_stock(free_port(), seconds, var_dir)
    return {
        "tcp": {
            **ours_tcp,
            "stock": stock_tcp,
            "ratio_to_stock_server": round(ours_tcp["requests_per_s"] / stock_tcp["requests_per_s"], 2),
        },
        "tls": {
            **ours_tls,
            "stock": stock_tls,
            "ratio_to_stock_server": round(ours_tls["requests_per_s"] / stock_tls["requests_per_s"], 2),
        },
    }


def rtu_line(transactions: int) -> dict[str, Any]:
    import serial  # type: ignore[import-untyped]

    from modbus import rtu
    from modbus.tests.ptys import linked_ptys

    with linked_ptys() as (server_side, client_side):
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.modbus_slave", "--rtu-server", server_side], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        port = serial.Serial(client_side, baudrate=38400, bytesize=8, parity="N", stopbits=2, timeout=1)
        request = rtu.with_crc(struct.pack(">BBHH", 1, 3, 0, REQUEST_COUNT))
        answer_bytes = 5 + 2 * REQUEST_COUNT
        round_trips = []
        try:
            for _ in range(transactions):
                started = time.perf_counter()
                port.write(request)
                answer = port.read(answer_bytes)
                round_trips.append((time.perf_counter() - started) * 1000)
                assert len(answer) == answer_bytes and rtu.crc_ok(answer)
                time.sleep(0.002)  # the master keeps the t3.5 gap before its next request
        finally:
            port.close()
            server.send_signal(signal.SIGTERM)
            own = json.loads(server.stdout.read().strip().splitlines()[-1])
            server.wait(10)
    line_ms = rtu.line_time_s(len(request), answer_bytes, 38400, 8, "N", 2) * 1000
    own_summary = summary(own)
    return {
        "transactions": transactions,
        "line": "38400 8N2, address 1, read 0-27",
        "line_time_ms": round(line_ms, 3),
        "own_time_ms": own_summary,
        "own_time_p99_share_of_line_time": round(own_summary["p99"] / line_ms, 4),
        "round_trip_on_pty_ms": summary(round_trips),
        "turnaround_ms": round(rtu.silent_interval_s(38400) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--stock-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tls-dir", help=argparse.SUPPRESS)
    parser.add_argument("--rtu-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stock_server:
        stock_server(args.stock_server, args.tls_dir)
        return
    if args.rtu_server:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
        rtu_server(args.rtu_server)
        return
    network = tcp_and_tls(args.seconds)
    figures = {
        "clients": CLIENTS,
        "seconds": args.seconds,
        "registers": "0-27 (FC03)",
        "requests_per_s": network["tcp"]["requests_per_s"],
        "p50_ms": network["tcp"]["p50_ms"],
        "p99_ms": network["tcp"]["p99_ms"],
        "ratio_to_stock_server": network["tcp"]["ratio_to_stock_server"],
        **network,
        "rtu": rtu_line(args.transactions),
    }
    write_result(
        "modbus_slave",
        figures,
        {
            "requests_per_s": 10000,
            "p99_ms": 5,
            "ratio_to_stock_server": 0.8,
            "rtu_own_time_share_of_line_time": 0.1,
        },
    )


if __name__ == "__main__":
    main()
