"""The broker settings the bridge runs with, and ``KSEM_MQTT_URL``. Pure: no Django.

``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883, TLS), optionally with
``user:password@`` and a path naming the prefix (``mqtt://127.0.0.1:1883/ksem``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PREFIX = "ksem"
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


HOST_PATTERN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def valid_host(host: str) -> bool:
    """A host name or IPv4 address (labels of letters, digits and -, at most 63 characters each)."""
    return bool(HOST_PATTERN.match(host))


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything the bridge needs to connect and publish; ``enabled`` False = publish nothing."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: bool = False
    ca_pem: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    prefix: str = DEFAULT_PREFIX
    discovery: bool = True
    min_interval_s: float = 0.0
    command_user_id: int | None = None
    source: str = "default"  # default, environment (KSEM_MQTT_URL) or page

    def describe(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"


def parse_url(raw: str) -> BrokerConfig:
    """``KSEM_MQTT_URL`` to a config: publishing on, discovery on, prefix ``ksem`` unless the path names one.

    Raises ``ValueError`` naming the problem for anything else."""
    raw = raw.strip()
    if not raw:
        return BrokerConfig()
    parts = urlsplit(raw)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"{raw!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"{raw!r}: no broker host")
    tls = parts.scheme in {"mqtts", "ssl"}
    try:
        port = parts.port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
    except ValueError as exc:
        raise ValueError(f"{raw!r}: the port must be a number between 1 and 65535") from exc
    if not 1 <= port <= 65535:
        raise ValueError(f"{raw!r}: the port must be a number between 1 and 65535")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    return BrokerConfig(
        enabled=True,
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        prefix=prefix,
        discovery=True,
        source="environment",
    )
