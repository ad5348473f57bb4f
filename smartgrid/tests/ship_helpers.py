"""Helpers for the SHIP tests: nodes on loopback with short timers, odd certificates, raw clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smartgrid.ship import MemoryTrustStore, ShipConnection, ShipNode, ShipTimers
from smartgrid.ship.identity import ShipIdentity, ephemeral_identity

FAST = ShipTimers(
    cmi=1.0,
    hello_init=2.0,
    hello_prolong_threshold=1.0,
    hello_prolong_min=0.05,
    pending_max=1.0,
    protocol=1.0,
    pin=1.0,
    access=1.0,
    abort_delay=0.05,
    close_max=0.3,
    tls_handshake=2.0,
    ws_handshake=2.0,
    ping_interval=0.3,
    pong_timeout=1.5,  # generous: a busy CI machine must not look like a dead peer
    max_message=16 * 1024,
)

DEVICE = {"brand": "Test", "model": "Node", "type": "EnergyManagementSystem", "serial": "1", "categories": [2]}


def certificate_with_ski(ski: bytes | None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if ski is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    return builder.sign(key, hashes.SHA256()), key


class Recorder:
    """on_connection that records connections and every SPINE message received."""

    def __init__(self) -> None:
        self.connections: list[ShipConnection] = []
        self.received: asyncio.Queue[tuple[ShipConnection, dict[str, Any]]] = asyncio.Queue()
        self.connected = asyncio.Event()

    async def __call__(self, conn: ShipConnection) -> None:
        self.connections.append(conn)
        self.connected.set()
        try:
            while True:
                self.received.put_nowait((conn, await conn.recv()))
        except ConnectionError:
            return


def make_node(
    name: str,
    store: MemoryTrustStore | None = None,
    *,
    identity: ShipIdentity | None = None,
    handler: Callable[[ShipConnection], Awaitable[None]] | None = None,
    timers: ShipTimers = FAST,
    mdns: bool = False,
) -> tuple[ShipNode, MemoryTrustStore, Recorder]:
    store = store if store is not None else MemoryTrustStore()
    recorder = Recorder()
    node = ShipNode(
        identity or ephemeral_identity(f"Test-{name}"),
        store,
        host="127.0.0.1",
        port=0,
        device={**DEVICE, "model": name},
        on_connection=handler or recorder,
        mdns=mdns,
        mdns_interfaces=["127.0.0.1"],
        timers=timers,
    )
    return node, store, recorder


def client_ssl(identity: ShipIdentity | None = None, cert_key: tuple[Any, Any] | None = None) -> ssl.SSLContext:
    """A stdlib TLS client context presenting a certificate, no verification (for raw hostile clients)."""
    import os
    import tempfile

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if identity is not None:
        cert_pem, key_pem = identity.certificate_pem, identity.private_key_pem
    elif cert_key is not None:
        cert, key = cert_key
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    else:
        return ctx
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
