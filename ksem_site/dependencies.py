"""Start a process only once Redis and the database answer.

    python -m ksem_site.dependencies worker -- celery -A ksem_site worker ...

waits for both (after 5 s of waiting saying what it waits for and why, then every 30 s, then
how long it took; a shorter wait, such as the embedded Redis starting beside it, says nothing), and then becomes the command. Every long-running entry point (web, worker, beat, the
Modbus and EEBus services) starts through it under supervisord, systemd and docker compose
alike, so a missing dependency is a clear wait, not a crash loop.

The command runs in this same process when it is Python of this environment (``python -m
MODULE``, ``python SCRIPT``, or a console script such as ``celery`` or ``uvicorn`` installed
beside this interpreter): Django is set up once, before the database is asked (no query while
the apps are still loading), and the interpreter, settings and libraries loaded for the wait are
the ones the process goes on with. Starting a second interpreter with ``exec`` would load all of
it again; on a busy machine that was most of a restart (docs/operations.md, "Start-up").
Anything else is started with ``exec`` as before.
"""

from __future__ import annotations

import logging
import os
import runpy
import shutil
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

log = logging.getLogger("ksem.startup")

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0
REPEAT_MESSAGE_S = 30.0
# A dependency started beside the process (the embedded Redis under `make run`, a database
# container coming up with compose) usually answers within this: a wait that short says nothing.
QUIET_S = 5.0


def _describe_redis(url: str) -> str:
    if url.startswith("unix://"):
        return url
    # redis://user:secret@host:port/db -> redis://host:port/db: no secret in a log line.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def check_redis() -> None:
    import redisconn

    client = redisconn.connect(2.0)
    try:
        client.ping()
    finally:
        client.close()


def check_database() -> None:
    # The apps first: a query while they are still loading is what Django warns about
    # ("Accessing the database during app initialization").
    import django

    django.setup()
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
                if now - started < QUIET_S:
                    pass
                elif said_at is None or now - said_at >= REPEAT_MESSAGE_S:
                    log.warning(
                        "%s: waiting for %s (%s); retrying", process, what, str(exc).strip() or type(exc).__name__
                    )
                    said_at = now
                sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
        if said_at is not None:
            log.warning("%s: %s answers after %.1f s; starting", process, what, clock() - started)


def in_process(command: list[str]) -> Callable[[], object] | None:
    """How to run ``command`` in this interpreter, or None when it needs a process of its own.

    ``python -m MODULE ...`` and ``python SCRIPT ...`` with this environment's interpreter, and a
    console script of a package installed here whose file sits beside that interpreter. Sets
    ``sys.argv`` when the returned function is called.
    """
    executable = shutil.which(command[0])
    if executable is None:
        return None
    path = Path(executable).absolute()
    if path.parent != Path(sys.executable).absolute().parent:
        return None  # another environment (or a system binary): its own process
    if path.name.startswith("python"):
        if len(command) >= 3 and command[1] == "-m":
            module, args = command[2], command[3:]

            def run_module() -> object:
                sys.argv = [module, *args]
                return runpy.run_module(module, run_name="__main__", alter_sys=True)

            return run_module
        if len(command) >= 2 and not command[1].startswith("-"):
            script, args = command[1], command[2:]

            def run_script() -> object:
                sys.argv = [script, *args]
                return runpy.run_path(script, run_name="__main__")

            return run_script
        return None
    found = metadata.entry_points(group="console_scripts", name=path.name)
    if not found:
        return None
    entry = next(iter(found))

    def run_entry_point() -> object:
        sys.argv = [str(path), *command[1:]]
        return entry.load()()

    return run_entry_point


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m ksem_site.dependencies NAME -- COMMAND [ARGS...]")
    process, command = argv[0], argv[2:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
    # Only this module's messages, on stderr; the command configures logging as it would alone.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    wait_for_dependencies(process)
    log.removeHandler(handler)
    log.setLevel(logging.NOTSET)
    log.propagate = True
    sys.stdout.flush()
    sys.stderr.flush()
    run = in_process(command)
    if run is not None:
        result = run()
        # A console script returns its exit status; a module or script that returns has finished.
        sys.exit(result if isinstance(result, int) else 0)
    executable = shutil.which(command[0]) or command[0]
    os.execv(executable, command)


if __name__ == "__main__":
    main(sys.argv[1:])
