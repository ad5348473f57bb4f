"""Nobody can hold the Modbus TCP and TLS ports: the close rule for impossible headers, idle and
incomplete-request timeouts, the per-address limit and the order in which connections make room.

Real slave, real sockets on loopback; clients bind their own source address (127.0.0.2, ...)
to look like different hosts. Timeouts are set short for the test."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from modbus.slave.tcp import ConnectionLimits
from modbus.tests.test_slave_tls import client_certificate, client_context

READ = struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 0, 2)  # registers 0-1, unit 1
ANSWER = 9 + 4


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1", **kwargs: object) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), **kwargs)  # type: ignore[arg-type]
        return cls(reader, writer)

    async def read(self) -> bytes:
        self.writer.write(READ)
        return await asyncio.wait_for(self.reader.readexactly(ANSWER), 2)

    async def closed_within(self, seconds: float) -> bool:
        """True if the server closes the connection within ``seconds``."""
        try:
            data = await asyncio.wait_for(self.reader.read(1000), seconds)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        assert data == b"", data
        return True

    def close(self) -> None:
        self.writer.close()


def answered(answer: bytes) -> bool:
    return answer[:2] == READ[:2] and answer[7:9] == bytes([3, 4])


@pytest.mark.parametrize("length", [0, 1])
async def test_a_header_with_length_0_or_1_closes_the_connection(backend, start_slave, length):
    slave = await start_slave(backend)
    client = await Client.open(slave.tcp.port)
    header = struct.pack(">HHH", 7, 0, length) + (b"\x01" if length == 1 else b"")
    client.writer.write(header)  # the whole frame such a header announces: nothing more is coming
    assert await client.closed_within(1.0)
    # The same connection with a possible header waits for the rest and is then answered.
    other = await Client.open(slave.tcp.port)
    other.writer.write(READ[:7])
    assert not await other.closed_within(0.3)
    other.writer.write(READ[7:])
    assert answered(await asyncio.wait_for(other.reader.readexactly(ANSWER), 2))
    other.close()


async def test_an_idle_connection_is_closed_after_the_idle_timeout_a_polling_one_stays(backend, start_slave):
    slave = await start_slave(backend, limits=ConnectionLimits(idle_timeout_s=0.6, request_timeout_s=5))
    idle = await Client.open(slave.tcp.port)
    poller = await Client.open(slave.tcp.port)
    assert answered(await idle.read())
    last_request = time.monotonic()
    closed_at = None
    for _ in range(12):  # 1.8 s of polling every 0.15 s
        assert answered(await poller.read())
        if closed_at is None and await idle.closed_within(0.15):
            closed_at = time.monotonic()
    assert closed_at is not None, "the idle connection is still open"
    assert 0.5 <= closed_at - last_request <= 1.8
    assert slave.tcp.dropped["idle"] == 1
    poller.close()


async def test_a_half_request_is_closed_after_the_request_timeout(backend, start_slave):
    slave = await start_slave(backend, limits=ConnectionLimits(idle_timeout_s=30, request_timeout_s=0.4))
    silent = await Client.open(slave.tcp.port)
    half = await Client.open(slave.tcp.port)
    started = time.monotonic()
    half.writer.write(READ[:9])
    assert await half.closed_within(3.0)
    assert 0.3 <= time.monotonic() - started <= 3.0
    # One that sent nothing is merely idle: it stays until the (long) idle timeout.
    assert not await silent.closed_within(0.2)
    assert answered(await silent.read())
    assert slave.tcp.dropped == {"incomplete": 1}
    silent.close()


async def test_one_address_holds_at_most_its_limit_its_oldest_idle_connection_goes_first(backend, start_slave):
    slave = await start_slave(backend, limits=ConnectionLimits(max_connections=8, max_per_address=3))
    first, second, third = [await Client.open(slave.tcp.port, "127.0.0.2") for _ in range(3)]
    for client in (first, second, third):  # the first one is now idle longest
        assert answered(await client.read())
    elsewhere = await Client.open(slave.tcp.port, "127.0.0.3")
    assert answered(await elsewhere.read())
    fourth = await Client.open(slave.tcp.port, "127.0.0.2")
    assert await first.closed_within(1.0)
    for client in (second, third, fourth, elsewhere):
        assert answered(await client.read())
    assert slave.tcp.by_address == {"127.0.0.2": 3, "127.0.0.3": 1}
    assert slave.tcp.dropped == {"per-address": 1}


async def test_a_full_port_drops_silent_connections_first_pollers_keep_theirs(backend, start_slave):
    slave = await start_slave(backend, limits=ConnectionLimits(max_connections=6, max_per_address=5))
    poller = await Client.open(slave.tcp.port, "127.0.0.1")
    assert answered(await poller.read())
    silent = [await Client.open(slave.tcp.port, f"127.0.0.{n}") for n in range(2, 7)]  # the port is full
    # A newcomer gets in: the oldest connection that never sent a request makes room.
    newcomer = await Client.open(slave.tcp.port, "127.0.0.7")
    assert answered(await newcomer.read())
    assert await silent[0].closed_within(1.0)
    # A flood of 30 more silent connections from 10 addresses displaces only silent ones.
    flood = [await Client.open(slave.tcp.port, f"127.0.1.{n % 10 + 1}") for n in range(30)]
    assert answered(await poller.read())
    assert answered(await newcomer.read())
    assert len(slave.tcp.connections) == 6
    for client in [poller, newcomer, *silent, *flood]:
        client.close()


async def test_the_tls_port_cannot_be_held_by_connections_that_never_finish_the_handshake(start_slave, tmp_path):
    from modbus.slave.server import SlaveConfig
    from modbus.tests.conftest import PLANT_ID, MemoryBackend, make_state

    tls_backend = MemoryBackend(SlaveConfig(plant_id=PLANT_ID, tcp_enabled=True, tls_enabled=True))
    tls_backend.publish(make_state())
    cert, key, fingerprint = client_certificate(tmp_path, "inverter")
    tls_backend.trust[fingerprint] = "accepted"
    limits = ConnectionLimits(max_connections=6, max_per_address=3, idle_timeout_s=0.8, request_timeout_s=0.5)
    slave = await start_slave(tls_backend, limits=limits)
    context = client_context(cert, key)
    poller = await Client.open(slave.tls.port, "127.0.0.1", ssl=context)
    assert answered(await poller.read())
    # TCP connections that never say hello, from four addresses: at most 3 per address, 6 in all.
    silent = [await Client.open(slave.tls.port, f"127.0.0.{n % 4 + 2}") for n in range(20)]
    assert len(slave.tls.connections) <= 6
    assert max(slave.tls.by_address.values()) <= 3
    # The accepted client that polls keeps its connection; a new one still gets in.
    assert answered(await poller.read())
    newcomer = await Client.open(slave.tls.port, "127.0.0.9", ssl=context)
    assert answered(await newcomer.read())
    # The handshakes that never finish are closed after the request timeout (those the limits
    # did not drop already) ...
    for client in silent:
        assert await client.closed_within(3.0)
    assert slave.tls.dropped["incomplete"] >= 1
    # ... and an idle TLS connection after the idle timeout, while the poller keeps polling.
    for _ in range(8):
        assert answered(await poller.read())
        await asyncio.sleep(0.15)
    assert await newcomer.closed_within(1.0)
    assert answered(await poller.read())
    for client in [poller, newcomer, *silent]:
        client.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_connections": 1}, "at least 2"),
        ({"max_connections": 8, "max_per_address": 8}, "max_per_address"),
        ({"max_per_address": 0}, "max_per_address"),
        ({"idle_timeout_s": 0}, "idle_timeout_s"),
        ({"request_timeout_s": -1}, "request_timeout_s"),
    ],
)
def test_limits_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConnectionLimits(**kwargs)
