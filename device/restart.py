"""Restart of the product's processes (DEV-8) through supervisord's XML-RPC interface on its
unix socket (``<var>/supervisor.sock``, written by ``ksem_site.supervisor``).

``make run`` and the systemd unit run every process under supervisord: a restart first writes
``<var>/supervisord.conf`` again (:func:`ksem_site.supervisor.render`, with supervisord's
environment), so the programs run from the code :func:`ksem_site.supervisor.code_dir` names now:
the release an update installed in ``<var>/releases/current``, whose migrations are applied first,
or the checkout. Then it asks supervisord to stop every process, read its configuration again and
start them (``supervisor.restart``). A configuration not written by ``ksem_site.supervisor`` is
left as it is. It answers at once and then stops
the web process too, so the page loses its connection for a few seconds and polls
:func:`status` until every process runs again. Without the socket (docker compose, each
process in its own container, or a process started by hand) the product cannot restart itself:
:func:`status` says so and the page tells the installer to restart the service instead.
"""

from __future__ import annotations

import os
import sys
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from ksem_site import supervisor as config

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


def _default_render(var_dir: Path) -> str:
    return config.render(var_dir, config.child_environment(var_dir, os.environ), Path(sys.executable).parent)


def prepare(var_dir: str | Path, render: Callable[[Path], str] | None = None) -> Path | None:
    """Write supervisord's configuration again for the code to run now (after its migrations when
    it is an installed release); returns that code folder, or None for a configuration someone else wrote."""
    var = Path(var_dir)
    path = var / "supervisord.conf"
    try:
        ours = path.read_text().startswith(config.HEADER)
    except OSError:
        ours = False
    if not ours:
        return None
    code = config.code_dir(var)
    try:
        config.migrate_release(var, code, Path(sys.executable).parent, os.environ)
        text = (render or _default_render)(var)
        config.write(var, text)
    except config.ReleaseError as error:
        raise RestartError(f"Nothing was restarted: {error}") from None
    except (OSError, SystemExit, ValueError) as error:
        raise RestartError(
            f"Nothing was restarted: the supervisor's configuration cannot be written: {error}"
        ) from None
    return code


def restart_all(var_dir: str | Path, render: Callable[[Path], str] | None = None) -> None:
    """Write the configuration again (:func:`prepare`) and ask supervisord to read it and start every
    process again (it answers before it stops us). ``render`` stands in for the real programs in tests."""
    proxy = _proxy(var_dir)
    prepare(var_dir, render)
    try:
        accepted = proxy.supervisor.restart()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as error:
        raise RestartError(f"The supervisor refused the restart: {error}") from None
    if not accepted:
        raise RestartError("The supervisor refused the restart.")
