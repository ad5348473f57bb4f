"""Start a process only once Redis and the database answer.

    python -m ksem_site.dependencies worker -- celery -A ksem_site worker ...

waits for both (saying once what it waits for and why, then every 30 s, then how long it
took), and then replaces itself with the command. Every long-running entry point (web,
worker, beat, the Modbus and EEBus services) starts through it under supervisord, systemd
and docker compose alike, so a missing dependency is a clear wait, not a crash loop.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable

log = logging.getLogger("ksem.startup")

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0
REPEAT_MESSAGE_S = 30.0


def _describe_redis(url: str) -> str:
    if url.startswith("unix://"):
        return url
    # redis://user:secret@host:port/db -> redis://host:port/db: no secret in a log line.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def check_redis() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        client.ping()
    finally:
        client.close()


def check_database() -> None:
    from django.db import connection

    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def dependencies() -> list[tuple[str, Callable[[], None]]]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = (
        db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
    )
    return [
        (f"Redis at {_describe_redis(settings.REDIS_URL)}", check_redis),
        (f"the database at {where}", check_database),
    ]


def wait_for_dependencies(
    process: str,
    checks: list[tuple[str, Callable[[], None]]] | None = None,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Block until every check passes. Raises TimeoutError after ``timeout_s`` (None: wait forever)."""
    checks = dependencies() if checks is None else checks
    started = clock()
    for what, check in checks:
        delay_s = RETRY_FIRST_S
        said_at: float | None = None
        while True:
            try:
                check()
                break
            except Exception as exc:  # any failure means "not there yet"
                now = clock()
                if timeout_s is not None and now - started > timeout_s:
                    raise TimeoutError(f"{process}: {what} did not answer within {timeout_s:g} s: {exc}") from exc
                if said_at is None or now - said_at >= REPEAT_MESSAGE_S:
                    log.warning(
                        "%s: waiting for %s (%s); retrying", process, what, str(exc).strip() or type(exc).__name__
                    )
                    said_at = now
                sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
        if said_at is not None:
            log.warning("%s: %s answers after %.1f s; starting", process, what, clock() - started)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m ksem_site.dependencies NAME -- COMMAND [ARGS...]")
    process, command = argv[0], argv[2:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    wait_for_dependencies(process)
    executable = shutil.which(command[0]) or command[0]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(executable, command)


if __name__ == "__main__":
    main(sys.argv[1:])
