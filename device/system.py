"""System information (DEV-1) from the real machine: the product's processes and the host,
read with psutil each time the page or the API asks."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from updates.version import VERSION

# The header's name: an open-source energy manager in the shape of the KOSTAL device, not the device.
PRODUCT_NAME = "KSEM energy manager"
# What the command line of one of the product's processes contains (the supervisor's programs,
# or the same processes under docker compose or by hand).
_MARKERS = ("manage.py", "celery", "uvicorn", "ksem_site.", "plant.supervision", "supervisord", "simulator")
CPU_SAMPLE_S = 0.2


def version() -> str:
    """The product's version, written once in updates/version.py."""
    return VERSION


@dataclass
class ProcessInfo:
    pid: int
    name: str
    cpu_percent: float
    rss_mb: float
    started: float


@dataclass
class Interface:
    name: str
    mac: str = ""
    addresses: list[str] = field(default_factory=list)
    up: bool = False


@dataclass
class SystemInfo:
    product: str
    version: str
    host_name: str
    boot_time: float
    uptime_s: float
    cpu_count: int
    cpu_percent: float
    memory_total_mb: float
    memory_used_mb: float
    memory_percent: float
    product_cpu_percent: float
    product_rss_mb: float
    processes: list[ProcessInfo]
    interfaces: list[Interface]
    gateway: str
    dns: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _process_name(process: psutil.Process, cmdline: list[str]) -> str:
    supervised = ""
    with contextlib.suppress(psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
        supervised = process.environ().get("KSEM_PROCESS", "")
    if supervised:
        return supervised
    words = [os.path.basename(part) for part in cmdline[:6]]
    return " ".join(words)[:80]


def product_processes() -> list[psutil.Process]:
    """The processes of this installation: this one and every process of the same user, started in
    the same folder (supervisord starts every program in the checkout), whose command line names
    one of ours. Another installation on the same host (another checkout) is not counted."""
    me = psutil.Process()
    found: dict[int, psutil.Process] = {me.pid: me}
    user = me.username()
    home = _cwd(me)
    for process in psutil.process_iter(["pid", "cmdline", "username", "cwd"]):
        try:
            info = process.info
            if info["username"] != user or info["cwd"] != home:
                continue
            line = " ".join(info["cmdline"] or [])
            if any(marker in line for marker in _MARKERS):
                found[info["pid"]] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return list(found.values())


def _cwd(process: psutil.Process) -> str | None:
    try:
        return process.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _processes(sample_s: float) -> list[ProcessInfo]:
    processes = product_processes()
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.cpu_percent(None)  # starts the measurement
    time.sleep(sample_s)
    result = []
    for process in processes:
        try:
            with process.oneshot():
                cmdline = process.cmdline()
                result.append(
                    ProcessInfo(
                        pid=process.pid,
                        name=_process_name(process, cmdline),
                        cpu_percent=round(process.cpu_percent(None), 1),
                        rss_mb=round(process.memory_info().rss / 2**20, 1),
                        started=process.create_time(),
                    )
                )
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return sorted(result, key=lambda p: (p.name, p.pid))


def interfaces() -> list[Interface]:
    stats = psutil.net_if_stats()
    found: dict[str, Interface] = {}
    for name, addresses in psutil.net_if_addrs().items():
        entry = found.setdefault(name, Interface(name=name, up=bool(stats.get(name) and stats[name].isup)))
        for address in addresses:
            if address.family == psutil.AF_LINK:
                entry.mac = address.address
            elif address.family in (socket.AF_INET, socket.AF_INET6):
                text = address.address.split("%")[0]
                if address.netmask and address.family == socket.AF_INET:
                    text += f"/{sum(bin(int(part)).count('1') for part in address.netmask.split('.'))}"
                entry.addresses.append(text)
    return sorted(found.values(), key=lambda i: (i.name == "lo", i.name))


def default_gateway(route_table: str = "/proc/net/route") -> str:
    """The host's default IPv4 gateway from the kernel's routing table (Linux), or ""."""
    try:
        with open(route_table) as source:
            next(source, None)
            for line in source:
                fields = line.split()
                if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 2:
                    return str(ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little")))
    except (OSError, ValueError):
        pass
    return ""


def dns_servers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The name servers the host asks (``nameserver`` lines), or []."""
    try:
        with open(resolv_conf) as source:
            return [
                parts[1] for parts in (line.split() for line in source) if len(parts) > 1 and parts[0] == "nameserver"
            ]
    except OSError:
        return []


def collect(sample_s: float = CPU_SAMPLE_S) -> SystemInfo:
    """Everything DEV-1 shows, measured now (CPU over ``sample_s``)."""
    psutil.cpu_percent(None)
    processes = _processes(sample_s)
    host_cpu = psutil.cpu_percent(None)
    memory = psutil.virtual_memory()
    boot = psutil.boot_time()
    return SystemInfo(
        product=PRODUCT_NAME,
        version=version(),
        host_name=socket.gethostname(),
        boot_time=boot,
        uptime_s=round(time.time() - boot),
        cpu_count=psutil.cpu_count() or 1,
        cpu_percent=round(host_cpu, 1),
        memory_total_mb=round(memory.total / 2**20, 1),
        memory_used_mb=round((memory.total - memory.available) / 2**20, 1),
        memory_percent=round(memory.percent, 1),
        product_cpu_percent=round(sum(p.cpu_percent for p in processes), 1),
        product_rss_mb=round(sum(p.rss_mb for p in processes), 1),
        processes=processes,
        interfaces=interfaces(),
        gateway=default_gateway(),
        dns=dns_servers(),
    )
