"""Modbus TCP over TLS (MB-2): trust by fingerprint, TLS >= 1.2, wallbox control writes over TLS only."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import struct
import time
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pymodbus.client import AsyncModbusTcpClient, AsyncModbusTlsClient

from modbus import tls
from modbus.slave.server import SlaveConfig
from modbus.tests.conftest import PLANT_ID, MemoryBackend, make_state
from modbus.wallbox_control import BASE, WallboxControls


def client_certificate(directory: Path, name: str) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, tls.fingerprint(cert.public_bytes(serialization.Encoding.DER))


def client_context(cert: Path, key: Path, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed; pinned by fingerprint in real use
    context.load_cert_chain(cert, key)
    if maximum is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = maximum
            context.maximum_version = maximum
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.fixture
def tls_backend() -> MemoryBackend:
    backend = MemoryBackend(SlaveConfig(plant_id=PLANT_ID, tcp_enabled=True, tls_enabled=True))
    backend.publish(make_state())
    return backend


READ = struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 0, 2)


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, adu: bytes) -> bytes:
    writer.write(adu)
    header = await asyncio.wait_for(reader.readexactly(7), 2)
    return await asyncio.wait_for(reader.readexactly(struct.unpack(">H", header[4:6])[0] - 1), 2)


async def test_unknown_certificate_refused_until_accepted_and_dropped_when_deleted(tls_backend, start_slave, tmp_path):
    slave = await start_slave(tls_backend)
    cert, key, fingerprint = client_certificate(tmp_path, "scada")
    reader, writer = await asyncio.open_connection("127.0.0.1", slave.tls.port, ssl=client_context(cert, key))
    # Not accepted yet: every request is refused (exception 01, as Modbus/TCP Security does).
    assert await request(reader, writer, READ) == bytes([0x83, 0x01])
    await asyncio.sleep(0.2)
    assert tls_backend.trust == {fingerprint: "pending"}
    assert tls.subject_of(tls_backend.recorded[0]) == "CN=scada"

    tls_backend.trust[fingerprint] = "accepted"
    await asyncio.sleep(0.2)
    assert (await request(reader, writer, READ))[:2] == bytes([3, 4])

    # Deleting the accepted certificate closes its open connection within a second.
    del tls_backend.trust[fingerprint]
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(100), 2) == b""
    assert time.monotonic() - started < 1.0
    writer.close()


async def test_pymodbus_tls_client_reads_after_acceptance(tls_backend, start_slave, tmp_path):
    slave = await start_slave(tls_backend)
    cert, key, fingerprint = client_certificate(tmp_path, "ems")
    tls_backend.trust[fingerprint] = "accepted"
    await asyncio.sleep(0.1)
    client = AsyncModbusTlsClient(
        "127.0.0.1", port=slave.tls.port, sslctx=client_context(cert, key), timeout=2, retries=0
    )
    assert await client.connect()
    try:
        response = await client.read_holding_registers(40000, count=2, device_id=1)
        assert response.registers == [0x5375, 0x6E53]
    finally:
        client.close()


async def test_tls_1_1_and_clients_without_certificate_are_refused(tls_backend, start_slave, tmp_path):
    slave = await start_slave(tls_backend)
    cert, key, _fingerprint = client_certificate(tmp_path, "old")

    async def read_with(context: ssl.SSLContext) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", slave.tls.port, ssl=context)
        return await request(reader, writer, READ)

    with pytest.raises((ssl.SSLError, ConnectionError)):
        await read_with(client_context(cert, key, maximum=ssl.TLSVersion.TLSv1_1))
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.check_hostname = False
    bare.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        await read_with(bare)
    # The server still serves TLS 1.2.
    tls12 = client_context(cert, key)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    _reader, writer = await asyncio.open_connection("127.0.0.1", slave.tls.port, ssl=tls12)
    assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
    writer.close()


def write_single(address: int, value: int, transaction: int = 9) -> bytes:
    return struct.pack(">HHHBBHH", transaction, 0, 6, 1, 6, address, value)


def write_multiple(address: int, values: list[int], transaction: int = 10) -> bytes:
    pdu = struct.pack(f">BHHB{len(values)}H", 16, address, len(values), 2 * len(values), *values)
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, 1) + pdu


async def test_wallbox_control_writes_over_plain_tcp_are_refused(backend, start_slave):
    slave = await start_slave(backend)
    client = AsyncModbusTcpClient("127.0.0.1", port=slave.tcp.port, timeout=2, retries=0)
    assert await client.connect()
    try:
        response = await client.write_register(BASE, 2, device_id=1)
        assert response.isError() and response.exception_code in (1, 2)
        response = await client.write_registers(BASE, [2, 160], device_id=1)
        assert response.isError() and response.exception_code in (1, 2)
        # Reading the control registers is fine on plain TCP.
        response = await client.read_holding_registers(BASE, count=2, device_id=1)
        assert response.registers == [0xFFFF, 0]
    finally:
        client.close()
    assert backend.commands == []


async def test_wallbox_control_writes_over_tls_are_validated_and_reach_the_controller(
    tls_backend, start_slave, tmp_path
):
    slave = await start_slave(tls_backend)
    cert, key, fingerprint = client_certificate(tmp_path, "hems")
    tls_backend.trust[fingerprint] = "accepted"
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", slave.tls.port, ssl=client_context(cert, key))
    assert await request(reader, writer, write_multiple(BASE, [2, 160])) == struct.pack(">BHH", 16, BASE, 2)
    assert tls_backend.commands[-1] == WallboxControls(mode="pv", current_limit_a=16.0)
    assert await request(reader, writer, write_single(BASE, 3)) == struct.pack(">BHH", 6, BASE, 3)
    assert tls_backend.commands[-1] == WallboxControls(mode="hybrid", current_limit_a=16.0)
    # Out of range, wrong address, wrong length: refused, nothing handed on.
    assert await request(reader, writer, write_single(BASE, 4)) == bytes([0x86, 3])
    assert await request(reader, writer, write_single(BASE + 1, 59)) == bytes([0x86, 3])
    assert await request(reader, writer, write_single(BASE + 1, 321)) == bytes([0x86, 3])
    assert await request(reader, writer, write_multiple(BASE + 1, [100, 1])) == bytes([0x90, 2])
    assert await request(reader, writer, write_single(0, 1)) == bytes([0x86, 2])
    assert len(tls_backend.commands) == 2
    # Reads show the command in force.
    assert await request(reader, writer, struct.pack(">HHHBBHH", 3, 0, 6, 1, 3, BASE, 2)) == bytes([3, 4, 0, 3, 0, 160])
    writer.close()
