"""The system logs (DEV-8): every process under supervisord also writes its log lines to
``<var>/log/<process>.log`` (UTC timestamps, rotated at 5 MB, two old files kept), and the device
page downloads the lines of a chosen period from all of them as one zip file.

A line that starts with a timestamp carries it; the lines after it without one (a traceback)
belong to it. ``supervisord.log`` (supervisord's own lines: which process started, exited, was
restarted) is read too; its timestamps are the host's local time.

This module imports no Django model: the logging configuration of ``ksem_site.settings`` and the
Celery start-up use :func:`process_handler` and :func:`attach_process_file`.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 2
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_FLAG = "_ksem_process_file"
# 2026-12-06T21:23:36.123Z (ours) or 2026-12-06 21:23:36,123 (supervisord, host local time)
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6}))?(Z)?")
_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.log(\.\d+)?$")


class UtcFormatter(logging.Formatter):
    """``2026-12-06T21:23:36.123Z LEVEL logger: message``: UTC, whatever the host's zone."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def log_dir(var_dir: str | Path) -> Path:
    return Path(var_dir) / "log"


def process_handler(process: str, var_dir: str) -> logging.Handler:
    """The file handler of one process (``KSEM_PROCESS``), for ``LOGGING`` in the settings."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", process):
        raise ValueError(f"KSEM_PROCESS={process!r}: letters, digits, '-' and '_' only")
    folder = log_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / f"{process}.log", maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(UtcFormatter())
    setattr(handler, _HANDLER_FLAG, True)
    return handler


def attach_process_file(logger: logging.Logger) -> None:
    """Add the process's file handler to ``logger`` (Celery replaces the root logger's handlers
    when a worker or beat starts: ``ksem_site.celery`` puts ours back). Nothing without KSEM_PROCESS."""
    from django.conf import settings

    process = os.environ.get("KSEM_PROCESS", "")
    if not process or any(getattr(h, _HANDLER_FLAG, False) for h in logger.handlers):
        return
    logger.addHandler(process_handler(process, str(settings.VAR_DIR)))


def line_time(line: str) -> dt.datetime | None:
    """The moment a log line was written (aware, UTC), or None for a line without a timestamp."""
    match = _STAMP.match(line)
    if match is None:
        return None
    day, clock, fraction, utc = match.groups()
    try:
        moment = dt.datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    if fraction:
        moment = moment.replace(microsecond=int(fraction.ljust(6, "0")))
    if utc:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)  # naive: the host's local time (supervisord's own lines)


def lines_between(lines: IO[str], start: dt.datetime, end: dt.datetime) -> Iterator[str]:
    """The lines written in ``[start, end)``; a line without a timestamp goes with the one before it."""
    inside = False
    for line in lines:
        moment = line_time(line)
        if moment is not None:
            inside = start <= moment < end
        if inside:
            yield line if line.endswith("\n") else line + "\n"


def log_files(var_dir: str | Path) -> list[Path]:
    """The log files of the device, oldest rotation first within each process."""
    folder = log_dir(var_dir)
    if not folder.is_dir():
        return []
    files = [path for path in folder.iterdir() if path.is_file() and _FILE.match(path.name)]

    def order(path: Path) -> tuple[str, int]:
        base, _, number = path.name.partition(".log")
        return base, -int(number[1:]) if number else 0

    return sorted(files, key=order)


def write_archive(out: IO[bytes], var_dir: str | Path, start: dt.datetime, end: dt.datetime) -> int:
    """A zip of every process's lines in ``[start, end)``, one member per process (its rotated
    files joined in order); returns the number of lines. Reads line by line: memory stays flat."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period needs time zones")
    if end <= start:
        raise ValueError("the end of the period must be after its start")
    by_process: dict[str, list[Path]] = {}
    for path in log_files(var_dir):
        by_process.setdefault(path.name.partition(".log")[0], []).append(path)
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for process, paths in by_process.items():
            with archive.open(f"{process}.log", "w") as member:
                for path in paths:
                    with open(path, encoding="utf-8", errors="replace") as source:
                        for line in lines_between(source, start, end):
                            member.write(line.encode("utf-8"))
                            count += 1
    return count
