"""mDNS / DNS-SD for SHIP: announce ``_ship._tcp`` and browse for other SHIP nodes (zeroconf).

TXT keys as ship-go writes them: txtvers=1, path, id, ski, brand, model, type, register, serial
(optional), cat. Received services follow ship-go's receiver rules: txtvers, id, path, ski and
register are mandatory, txtvers must be "1", register literally "true"/"false", our own SKI is
ignored, IPv6 link-local addresses are dropped and IPv4 is preferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .identity import normalize_ski
from .trust import DiscoveredService

log = logging.getLogger(__name__)

SERVICE_TYPE = "_ship._tcp.local."
MANDATORY_TXT = ("txtvers", "id", "path", "ski", "register")


def _trunc(value: str, limit: int = 32) -> str:
    data = value.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


def txt_record(
    *, ship_id: str, ski: str, device: dict[str, Any], register: bool, path: str = "/ship/"
) -> dict[str, str]:
    """The TXT record announced for this node."""
    txt = {
        "txtvers": "1",
        "path": path,
        "id": ship_id,
        "ski": ski,
        "brand": _trunc(str(device.get("brand", ""))),
        "model": _trunc(str(device.get("model", ""))),
        "type": _trunc(str(device.get("type", ""))),
        "register": "true" if register else "false",
    }
    if device.get("serial"):
        txt["serial"] = _trunc(str(device["serial"]))
    categories = device.get("categories")
    if categories:
        txt["cat"] = ",".join(str(c) for c in categories) if isinstance(categories, list | tuple) else str(categories)
    return txt


def instance_name(device: dict[str, Any]) -> str:
    """eebus-go's default instance name: Brand-Model-Serial (DNS-safe)."""
    raw = "-".join(str(device.get(k, "")) for k in ("brand", "model", "serial") if device.get(k))
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:63] or "SHIP"


def _decode_txt(properties: dict[bytes, bytes | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in properties.items():
        try:
            out[key.decode("utf-8").lower()] = (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            continue
    return out


def parse_service(
    name: str, txt: dict[str, str], addresses: list[str], port: int, own_ski: str
) -> DiscoveredService | None:
    """Apply ship-go's receiver rules; None if the entry is to be ignored."""
    if any(key not in txt for key in MANDATORY_TXT):
        return None
    if txt["txtvers"] != "1" or txt["register"] not in ("true", "false"):
        return None
    try:
        ski = normalize_ski(txt["ski"])
    except ValueError:
        return None
    if ski == own_ski or not port:
        return None
    usable: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in addresses:
        try:
            addr = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if addr.version == 6 and addr.is_link_local:
            continue
        usable.append(addr)
    if not usable:
        return None
    usable.sort(key=lambda a: a.version)  # IPv4 first
    return DiscoveredService(ski=ski, host=str(usable[0]), port=port, txt={**txt, "ski": ski}, source="mdns", name=name)


def _local_addresses() -> list[str]:
    try:
        import ifaddr  # zeroconf's own dependency

        found = []
        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                if ip.is_IPv4 and isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                    found.append(ip.ip)
        return found or ["127.0.0.1"]
    except Exception:  # noqa: BLE001 - no interface list: announce on loopback only
        return ["127.0.0.1"]


class MdnsAgent:
    """Announces this node and reports ``_ship._tcp`` services that come and go."""

    def __init__(
        self,
        *,
        own_ski: str,
        interfaces: list[str] | None,
        on_found: Callable[[DiscoveredService], None],
        on_removed: Callable[[str], None],
    ):
        self.own_ski = own_ski
        self.interfaces = interfaces
        self._on_found = on_found
        self._on_removed = on_removed
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._names: dict[str, str] = {}  # service name -> ski

    async def start(self, *, name: str, port: int, txt: dict[str, str]) -> None:
        interfaces: Any = list(self.interfaces) if self.interfaces else InterfaceChoice.All
        self._azc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        addresses = list(self.interfaces) if self.interfaces else _local_addresses()
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "ship"
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            port=port,
            properties=txt,
            server=f"{host}-{txt['ski'][:8]}.local.",
            addresses=[socket.inet_aton(a) for a in addresses if _is_ipv4(a)],
        )
        await self._azc.async_register_service(self._info, allow_name_change=True)
        self._browser = AsyncServiceBrowser(self._azc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change])

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            ski = self._names.pop(name, None)
            if ski:
                self._on_removed(ski)
            return
        task = asyncio.ensure_future(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        if self._azc is None:
            return
        info = AsyncServiceInfo(service_type, name)
        try:
            if not await info.async_request(self._azc.zeroconf, 3000):
                return
        except Exception as exc:  # noqa: BLE001 - a broken answer from the network must not hurt us
            log.debug("mDNS: could not resolve %s: %s", name, exc)
            return
        txt = _decode_txt(info.properties or {})
        found = parse_service(name, txt, info.parsed_addresses(), info.port or 0, self.own_ski)
        if found is None:
            return
        self._names[name] = found.ski
        self._on_found(found)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.async_cancel()
        if self._azc is not None:
            with contextlib.suppress(Exception):
                if self._info is not None:
                    await self._azc.async_unregister_service(self._info)
            with contextlib.suppress(Exception):
                await self._azc.async_close()
        self._azc = self._browser = self._info = None


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False
