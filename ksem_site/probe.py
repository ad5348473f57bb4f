"""Liveness probes for container health checks: ``python -m ksem_site.probe web|beat|tcp PORT``.

Exit status 0 when the process answers, 1 (with the reason on stderr) when it does not. They
say whether a process is alive, not whether the plant is well: that is ``/api/health``.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request

# Beat ticks every cycle interval (1 s); three missed 5 s health windows mean it is gone.
BEAT_MAX_AGE_S = 15.0


def probe_web(port: int) -> str | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as response:
        return None if response.status == 200 else f"/login/ answered {response.status}"


def probe_beat() -> str | None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    import django

    django.setup()
    from plant import live

    age_s = live.last_tick_age_s()
    if age_s is None or age_s > BEAT_MAX_AGE_S:
        return f"no tick for {age_s if age_s is not None else 'ever'} s"
    return None


def probe_tcp(port: int) -> str | None:
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        return None


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["web"]:
                problem = probe_web(int(os.environ.get("KSEM_WEB_PORT", "8000")))
            case ["beat"]:
                problem = probe_beat()
            case ["tcp", port]:
                problem = probe_tcp(int(port))
            case _:
                print("usage: python -m ksem_site.probe web|beat|tcp PORT", file=sys.stderr)
                return 2
    except Exception as exc:  # noqa: BLE001 - any failure is "not alive"
        problem = str(exc) or type(exc).__name__
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
