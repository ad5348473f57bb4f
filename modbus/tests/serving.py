"""``manage.py serve_modbus`` as a subprocess for tests, and blocking-socket Modbus clients."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.stack import ROOT, child_env, free_port

GRID_COUNT = 28  # registers 0-27: the grid meter's current values


def read_request(transaction: int, start: int = 0, count: int = GRID_COUNT, unit: int = 1) -> bytes:
    return struct.pack(">HHHBBHH", transaction & 0xFFFF, 0, 6, unit, 3, start, count)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def read_grid(sock: socket.socket, transaction: int) -> bool:
    """One read of registers 0-27; True if answered with the registers (not an exception)."""
    sock.sendall(read_request(transaction))
    answer = recv_exactly(sock, 9)
    if answer[7] != 3:
        return False
    answer += recv_exactly(sock, answer[8])
    return struct.unpack(">H", answer[:2])[0] == transaction & 0xFFFF and len(answer) == 9 + 2 * GRID_COUNT


def connect(port: int, source: str = "127.0.0.1", timeout: float = 1.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def is_closed(sock: socket.socket) -> bool:
    """True if the server has closed this connection (EOF or reset), without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    tls_port: int
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_serving(self, timeout_s: float = 30.0) -> None:
        """Until the plain port answers a read of the grid registers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with connect(self.port, timeout=0.5) as sock:
                    if read_grid(sock, 1):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve_modbus does not serve within {timeout_s} s:\n{self.output()}")

    def wait_listening(self, port: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            with contextlib.suppress(OSError), connect(port, timeout=0.5):
                return
            time.sleep(0.1)
        raise AssertionError(f"serve_modbus does not listen on {port} within {timeout_s} s:\n{self.output()}")

    def stop(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM; returns the exit code and the seconds until the process ended."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        return code, time.monotonic() - started


@contextlib.contextmanager
def serve_modbus(tmp_path: Path, name: str = "serve_modbus", **env: str) -> Iterator[Served]:
    port, tls_port = free_port(), free_port()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve_modbus", "--port", str(port), "--tls-port", str(tls_port)],
            cwd=ROOT,
            env=child_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(process, port, tls_port, log_path)
    try:
        yield served
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


class FakeTarget:
    """A Modbus TCP slave for the master to push to: answers every FC16 write at once."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.writes = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                sock, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.5)
        with sock:
            while not self._stop.is_set():
                try:
                    header = recv_exactly(sock, 7)
                    body = recv_exactly(sock, struct.unpack(">H", header[4:6])[0] - 1)
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.writes += 1
                pdu = body[:5]  # function code, address, count: the FC16 answer
                with contextlib.suppress(OSError):
                    sock.sendall(header[:4] + struct.pack(">HB", len(pdu) + 1, header[6]) + pdu)

    def close(self) -> None:
        self._stop.set()
        self.server.close()
