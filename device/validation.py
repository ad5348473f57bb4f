"""Checks of the device settings (DEV-2, DEV-7), shared by the page's forms and the API: each
returns the cleaned value or raises ``ValueError`` with a message naming the problem."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import dataclass

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def host_name(value: str) -> str:
    """A host name of the device (DEV-2): letters, digits and hyphens, 1-63 characters, no hyphen
    at either end."""
    value = value.strip()
    if not _LABEL.match(value):
        raise ValueError("A host name has 1 to 63 letters, digits and hyphens, and no hyphen at either end.")
    return value


def server_name(value: str) -> str:
    """An NTP or DNS server: an IP address or a fully qualified name (labels as in a host name)."""
    value = value.strip().rstrip(".")
    if not value:
        raise ValueError("Enter a server name or address.")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if len(value) > 253 or not all(_LABEL.match(label) for label in value.split(".")):
        raise ValueError(f"{value!r} is neither an IP address nor a valid host name.")
    if value.split(".")[-1].isdigit():
        raise ValueError(f"{value!r} is neither an IP address nor a valid host name.")
    return value.lower()


def time_zone(value: str) -> str:
    value = value.strip()
    if value not in zoneinfo.available_timezones():
        raise ValueError(f"{value!r} is not a known time zone (e.g. Europe/Berlin).")
    return value


def ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value.strip())
    except ValueError:
        raise ValueError(f"The {what} {value!r} is not an IPv4 address.") from None


@dataclass(frozen=True)
class StaticNetwork:
    address: str
    netmask: str
    gateway: str
    dns: tuple[str, ...]


def static_network(address: str, netmask: str, gateway: str, dns: list[str]) -> StaticNetwork:
    """A static IPv4 set-up: address and gateway in one subnet, neither the network nor the
    broadcast address; a netmask of contiguous ones (or a prefix length such as 24); 1-2 DNS servers."""
    host = ipv4(address, "address")
    mask = netmask.strip().lstrip("/")
    try:
        network = ipaddress.IPv4Network(f"{host}/{mask}", strict=False)
    except ValueError:
        raise ValueError(f"The netmask {netmask!r} is not valid (e.g. 255.255.255.0 or 24).") from None
    if network.prefixlen < 8 or network.prefixlen > 30:
        raise ValueError("The netmask must leave room for hosts: a prefix between /8 and /30.")
    if host in (network.network_address, network.broadcast_address):
        raise ValueError(f"{host} is the network's own or broadcast address, not a host address.")
    if host.is_multicast or host.is_loopback or host.is_unspecified or host.is_link_local:
        raise ValueError(f"{host} cannot be the device's address (loopback, multicast or link-local).")
    router = ipv4(gateway, "gateway")
    if router not in network:
        raise ValueError(f"The gateway {router} is not in the device's network {network}.")
    if router == host:
        raise ValueError("The gateway cannot be the device's own address.")
    if router in (network.network_address, network.broadcast_address):
        raise ValueError(f"The gateway {router} is the network's own or broadcast address.")
    servers = [entry.strip() for entry in dns if entry.strip()]
    if not servers:
        raise ValueError("A static set-up needs at least one DNS server.")
    if len(servers) > 2:
        raise ValueError("At most two DNS servers.")
    cleaned = tuple(str(ipaddress.ip_address(server)) if _is_ip(server) else _bad_dns(server) for server in servers)
    return StaticNetwork(str(host), str(network.netmask), str(router), cleaned)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _bad_dns(value: str) -> str:
    raise ValueError(f"The DNS server {value!r} is not an IP address.")


MAX_OFFSET_S = 10 * 366 * 24 * 3600


def clock_offset(seconds: float) -> float:
    """The device clock's offset from the host clock: at most ten years either way."""
    if seconds != seconds or abs(seconds) > MAX_OFFSET_S:  # NaN or absurd
        raise ValueError("The time from the browser is more than ten years from the host's clock.")
    return round(seconds, 3)
