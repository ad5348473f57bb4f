"""``manage.py serve_modbus`` as its own process: serves the published snapshot, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from pymodbus.client import ModbusTcpClient

import redisconn
from energy import snapshot
from meter import registers
from modbus.models import MasterTarget, ModbusSettings
from modbus.slave.server import ModbusSlave
from modbus.tests.conftest import MemoryBackend, make_state
from modbus.tests.serving import FakeTarget, connect, read_request, recv_exactly, serve_modbus
from modbus.tests.test_slave_tls import client_certificate, client_context
from plant import live
from plant.models import Plant
from tests.stack import ROOT, child_env, free_port


@pytest.mark.django_db(transaction=True)
def test_serve_modbus_serves_the_first_active_plant_and_stops_on_sigterm(tmp_path):
    plant = Plant.objects.create(name="served")
    state = make_state(plant_id=plant.pk)
    redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(state))
    port = free_port()
    log = (tmp_path / "serve_modbus.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve_modbus", "--port", str(port), "--tls-port", str(free_port())],
        cwd=ROOT,
        env=child_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline:
            if client.connect():
                response = client.read_holding_registers(512, count=4, device_id=71)
                if not response.isError():
                    break
            time.sleep(0.2)
        client.close()
        assert response is not None and not response.isError(), (tmp_path / "serve_modbus.log").read_text()
        value = registers.unpack(registers.ENERGY_SPECS[:1], dict(enumerate(response.registers, start=512)))
        assert value["energy_active_import_wh"] == pytest.approx(state.totals.active_import_wh, abs=0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        log.close()
    output = (tmp_path / "serve_modbus.log").read_text()
    assert "Modbus TCP slave on 127.0.0.1" in output and "serve_modbus stopping" in output


# --- issue 13.11: SIGTERM always stops it within 5 s ------------------------------------------
class _Busy:
    """A client that reads in a tight loop, so that SIGTERM finds it mid-request."""

    def __init__(self, make_socket: Callable[[], socket.socket]) -> None:
        self._make_socket = make_socket
        self._stop = threading.Event()
        self.answers = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                with self._make_socket() as sock:
                    sock.settimeout(1.0)
                    while not self._stop.is_set():
                        n += 1
                        sock.sendall(read_request(n, count=125))
                        recv_exactly(sock, 9)
                        self.answers += 1
                        sock.recv(4096)
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _tls_socket(context: ssl.SSLContext, port: int) -> socket.socket:
    return context.wrap_socket(connect(port))


def _publish_forever(plant_id: int, stop: threading.Event) -> None:
    """A new snapshot every 50 ms, so the master pushes (and its tasks are busy) all the time."""
    redis = redisconn.sync_redis()
    sequence = 1
    while not stop.wait(0.05):
        sequence += 1
        redis.set(live.state_key(plant_id), snapshot.to_json(make_state(sequence, plant_id=plant_id)))


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_serve_modbus_within_5_s_whatever_its_clients_are_doing(tmp_path):
    plant = Plant.objects.create(name="served")
    target = FakeTarget()
    MasterTarget.objects.create(host="127.0.0.1", port=target.port)
    cert, key, _fingerprint = client_certificate(tmp_path, "client")
    context = client_context(cert, key)
    stop_publishing = threading.Event()
    publisher = threading.Thread(target=_publish_forever, args=(plant.pk, stop_publishing), daemon=True)
    redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(make_state(plant_id=plant.pk)))
    publisher.start()
    try:
        for run in range(6):
            tls_on = run % 2 == 1
            ModbusSettings.objects.update_or_create(pk=1, defaults={"tls_enabled": tls_on, "master_enabled": True})
            held: list[socket.socket] = []
            busy: list[_Busy] = []
            with serve_modbus(tmp_path, f"run{run}", KSEM_HEALTH_MAX_AGE_S="3600") as served:
                port = served.tls_port if tls_on else served.port
                if tls_on:
                    served.wait_listening(port)
                    busy = [_Busy(functools.partial(_tls_socket, context, port)) for _ in range(3)]
                else:
                    served.wait_serving()
                    busy = [_Busy(functools.partial(connect, port)) for _ in range(3)]
                for n in range(40):  # idle ones, half requests (or half a TLS hello)
                    sock = connect(port, source=f"127.0.0.{2 + n % 4}")
                    if n % 2:
                        sock.sendall(b"\x16\x03\x01\x02\x00\x01" if tls_on else read_request(n)[:9])
                    held.append(sock)
                deadline = time.monotonic() + 10
                while sum(b.answers for b in busy) < 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.1 * (run % 3))  # a different moment of the master's pushes each time
                code, seconds = served.stop(10)
                output = served.output()
                for client in busy:
                    client.stop()
                for sock in held:
                    sock.close()
            assert sum(b.answers for b in busy) >= 20, output
            assert code == 0 and seconds < 5.0, f"run {run} (TLS {tls_on}): exit {code} after {seconds:.1f} s\n{output}"
            assert "serve_modbus stopped" in output, output
        assert target.writes > 0  # the master was pushing all along
    finally:
        stop_publishing.set()
        publisher.join(5)
        target.close()


async def test_stop_is_bounded_when_a_task_swallows_its_cancellation(backend, start_slave):
    """A call that swallows its cancellation (asyncio.wait_for does on Python 3.11 when the
    awaited call completes in the same loop step) used to make stop() wait for ever."""

    class Swallowing(MemoryBackend):
        async def read_snapshot(self, plant_id: int) -> bytes | None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.5)
            return await super().read_snapshot(plant_id)

    swallowing = Swallowing()
    swallowing.snapshots = backend.snapshots
    slave = ModbusSlave(swallowing, tcp_port=0, tls_port=0, poll_s=0.001)
    await slave.start()
    await asyncio.sleep(0.1)  # the snapshot task now sits in read_snapshot
    started = time.monotonic()
    done, _ = await asyncio.wait([asyncio.ensure_future(slave.stop())], timeout=10)
    assert done, "stop() did not return"
    assert time.monotonic() - started < 3.0
    assert slave.tcp is None
