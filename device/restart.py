"""Restart of the product's processes (DEV-8) through supervisord's XML-RPC interface on its
unix socket (``<var>/supervisor.sock``, written by ``ksem_site.supervisor``).

``make run`` and the systemd unit run every process under supervisord: a restart asks it to stop
every process and start them again (``supervisor.restart``). It answers at once and then stops
the web process too, so the page loses its connection for a few seconds and polls
:func:`status` until every process runs again. Without the socket (docker compose, each
process in its own container, or a process started by hand) the product cannot restart itself:
:func:`status` says so and the page tells the installer to restart the service instead.
"""

from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

TIMEOUT_S = 5.0


class RestartError(Exception):
    """The supervisor is not there or refused; the message says which."""


@dataclass
class Status:
    available: bool
    reason: str = ""
    state: str = ""
    processes: list[dict[str, Any]] = field(default_factory=list)


def socket_path(var_dir: str | Path) -> Path:
    return Path(var_dir) / "supervisor.sock"


def _proxy(var_dir: str | Path) -> Any:
    path = socket_path(var_dir)
    if not path.exists():
        raise RestartError(
            "No supervisor runs this product here (no supervisor.sock): the processes are started by another "
            "service manager (docker compose, systemd without supervisord), which restarts them."
        )
    transport = SupervisorTransport(None, None, f"unix://{path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def status(var_dir: str | Path) -> Status:
    """Whether a restart is possible here and the state of every supervised process."""
    try:
        proxy = _proxy(var_dir)
        state = proxy.supervisor.getState()
        processes = proxy.supervisor.getAllProcessInfo()
    except RestartError as error:
        return Status(available=False, reason=str(error))
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as error:
        return Status(available=False, reason=f"The supervisor does not answer: {error}")
    return Status(
        available=True,
        state=str(state.get("statename", "")),
        processes=[
            {"name": p["name"], "state": p["statename"], "pid": p["pid"], "started": p["start"]} for p in processes
        ],
    )


def restart_all(var_dir: str | Path) -> None:
    """Ask supervisord to stop and start every process (it answers before it stops us)."""
    try:
        proxy = _proxy(var_dir)
        accepted = proxy.supervisor.restart()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as error:
        raise RestartError(f"The supervisor refused the restart: {error}") from None
    if not accepted:
        raise RestartError("The supervisor refused the restart.")
