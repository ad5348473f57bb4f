"""Issue 14.2: the product's Modbus TCP slave cannot be starved.

``manage.py serve_modbus`` runs with its shipped limits (64 connections, 16 per address, idle
60 s, request 5 s). While an inverter-like poller reads the grid registers every 100 ms (and
opens a new connection every second before dropping the old one, as after a network hiccup), 400 connections from ten
other loopback addresses open and say nothing, a quarter of them half a request. The poller
never misses more than one poll. (Before the limits, every reconnect failed while the flood held
all 64 slots.)"""

from __future__ import annotations

import socket
import threading
import time

import pytest

import redisconn
from energy import snapshot
from modbus.tests.conftest import make_state
from modbus.tests.serving import connect, is_closed, read_grid, read_request, serve_modbus
from plant import live
from plant.models import Plant

PERIOD_S = 0.1
POLLS = 50
RECONNECT_EVERY = 10
FLOOD_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 12)]


def poll(port: int, results: list[bool]) -> None:
    """The well-behaved master: a read every 100 ms, a fresh connection every second."""
    sock: socket.socket | None = None
    started = time.monotonic()
    for n in range(POLLS):
        time.sleep(max(0.0, started + n * PERIOD_S - time.monotonic()))
        ok = False
        lingering = None
        try:
            if sock is None or n % RECONNECT_EVERY == 0:
                # The old connection goes only after the new one has been used, as when a master
                # reconnects after a network hiccup while its old connection lingers on the server.
                lingering, sock = sock, None
                sock = connect(port, timeout=0.5)
            sock.settimeout(0.5)
            ok = read_grid(sock, n + 1)
        except OSError:
            if sock is not None:
                sock.close()
            sock = None
        if lingering is not None:
            lingering.close()
        results.append(ok)
    if sock is not None:
        sock.close()


def flood(port: int, count: int, held: list[socket.socket]) -> None:
    for n in range(count):
        sock = socket.socket()
        sock.settimeout(1.0)
        try:
            sock.bind((FLOOD_ADDRESSES[n % len(FLOOD_ADDRESSES)], 0))
            sock.connect(("127.0.0.1", port))
            if n % 4 == 0:
                sock.sendall(read_request(n)[:5])  # half a request, never finished
        except OSError:
            sock.close()
            continue
        held.append(sock)


@pytest.mark.django_db(transaction=True)
def test_200_idle_connections_from_several_addresses_do_not_starve_a_poller(tmp_path):
    plant = Plant.objects.create(name="served")
    redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(make_state(plant_id=plant.pk)))
    held: list[socket.socket] = []
    with serve_modbus(tmp_path, KSEM_HEALTH_MAX_AGE_S="3600") as served:
        served.wait_serving()
        results: list[bool] = []
        poller = threading.Thread(target=poll, args=(served.port, results))
        poller.start()
        try:
            time.sleep(0.5)
            flood(served.port, 200, held)  # the first 200 ...
            time.sleep(1.0)
            flood(served.port, 200, held)  # ... and 200 more while the first ones still hold on
            poller.join(15)
        finally:
            closed = sum(is_closed(sock) for sock in held)
            for sock in held:
                sock.close()
        code, _seconds = served.stop(10)
        assert code == 0, served.output()
    assert len(results) == POLLS
    misses = [n for n, ok in enumerate(results) if not ok]
    assert len(misses) <= 1, f"polls missed: {misses}"
    # The flood was real: the slave held at most 64 of its connections and dropped the rest.
    assert len(held) >= 390
    assert closed >= len(held) - 64
