"""Backup and restore as jobs in the worker (DEV-6), with progress the page polls.

The file format and the table-by-table work are :mod:`portal.backup_format` and :mod:`portal.backup`; this module runs them as
jobs of the generic machinery (:mod:`devicejobs`: a Celery task on the ``default`` queue, the
record with state and progress in Redis), keeps the files in ``<var>/backups/`` and names them.
A password travels in the job message sealed with a key from the device secret
(:func:`portal.backup.seal`), never in clear. Finished backups and uploads are removed after
``KEEP_S``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop

import devicejobs
from events import services as events
from events.models import BACKUP_RESULT, ERROR
from portal import backup

CREATE = "backup.create"
RESTORE = "backup.restore"
KEEP_S = 24 * 3600
SUFFIX = ".ksembak"
_NAME = re.compile(r"^(ksem-backup-\d{8}-\d{6}-[0-9a-f]{8}\.ksembak|restore-[0-9a-f]{32}\.upload)$")


def register_kinds() -> None:
    devicejobs.register(CREATE, "plant.backups:create_job")
    devicejobs.register(RESTORE, "plant.backups:restore_job")


def backup_dir() -> Path:
    path = Path(settings.VAR_DIR) / "backups"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def file_path(name: str) -> Path | None:
    """The file of that name in the backup folder, or None (a name from outside is checked here)."""
    if not _NAME.match(name or ""):
        return None
    path = backup_dir() / name
    return path if path.is_file() else None


def new_backup_name() -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return f"ksem-backup-{stamp}-{secrets.token_hex(4)}{SUFFIX}"


def new_upload_path() -> Path:
    return backup_dir() / f"restore-{secrets.token_hex(16)}.upload"


def remove_old_files(now: float | None = None) -> None:
    limit = (now or time.time()) - KEEP_S
    for path in backup_dir().iterdir():
        if _NAME.match(path.name) and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def _failed(error: backup.BackupError) -> devicejobs.DeviceJobError:
    return devicejobs.DeviceJobError(str(error), details={"reason": error.reason})


def create_file(path: Path, password: str, progress: backup.Progress) -> backup.Summary:
    """Write a backup to ``path`` (through a temporary name: a half-written file never carries it)."""
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as out:
            os.chmod(partial, 0o600)
            summary = backup.create(out, password, progress)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return summary


def create_job(params: dict[str, Any], run: devicejobs.Runner, progress: devicejobs.Progress) -> dict[str, Any]:
    remove_old_files()
    name = new_backup_name()
    try:
        summary = create_file(backup_dir() / name, backup.unseal(str(params["password"])), progress)
    except backup.BackupError as error:
        events.record(
            BACKUP_RESULT,
            gettext_noop("backup failed: %(error)s"),
            params={"error": error},
            severity=ERROR,
            source="backup",
        )
        raise _failed(error) from None
    events.record(
        BACKUP_RESULT,
        gettext_noop("backup created: %(rows)s rows of %(tables)s tables"),
        params={"rows": summary.rows, "tables": summary.tables},
        source="backup",
    )
    return {"file": name, "bytes": summary.bytes, "rows": summary.rows, "tables": summary.tables}


def restore_job(params: dict[str, Any], run: devicejobs.Runner, progress: devicejobs.Progress) -> dict[str, Any]:
    path = file_path(str(params.get("file", "")))
    if path is None:
        raise devicejobs.DeviceJobError("The uploaded backup is gone (older than a day?); upload it again.")
    try:
        with open(path, "rb") as source:
            summary = backup.restore(source, backup.unseal(str(params["password"])), progress)
    except backup.BackupError as error:
        events.record(
            BACKUP_RESULT,
            gettext_noop("restore refused: %(error)s"),
            params={"error": error},
            severity=ERROR,
            source="backup",
        )
        raise _failed(error) from None
    finally:
        path.unlink(missing_ok=True)
    events.record(
        BACKUP_RESULT,
        gettext_noop("backup restored: %(rows)s rows of %(tables)s tables"),
        params={"rows": summary.rows, "tables": summary.tables},
        source="backup",
    )
    return {"rows": summary.rows, "tables": summary.tables}


def start_create(password: str) -> dict[str, Any]:
    return devicejobs.submit(CREATE, {"password": backup.seal(password)}, target="backup")


def start_restore(upload: Path, password: str) -> dict[str, Any]:
    return devicejobs.submit(RESTORE, {"file": upload.name, "password": backup.seal(password)}, target="backup")


def accept_upload(chunks: Iterable[bytes], password: str) -> dict[str, Any]:
    """Store an uploaded backup, check its header, end and password at once (BackupError with the
    reason, the file removed), then restore it in the worker; returns the job's record."""
    upload = new_upload_path()
    with open(upload, "wb") as out:
        os.chmod(upload, 0o600)
        for piece in chunks:
            out.write(piece)
    try:
        with open(upload, "rb") as source:
            backup.inspect(source, password)
    except backup.BackupError:
        upload.unlink(missing_ok=True)
        raise
    return start_restore(upload, password)


def job_view(job_id: str) -> dict[str, Any] | None:
    """What a page or the API may show of a backup job (no parameters)."""
    record = devicejobs.read_job(job_id)
    if record is None or record.get("kind") not in (CREATE, RESTORE):
        return None
    result = record.get("result") or {}
    details = record.get("details") or {}
    return {
        "id": job_id,
        "kind": "create" if record["kind"] == CREATE else "restore",
        "state": record.get("state"),
        "progress_pct": record.get("progress_pct", 0.0),
        "message": record.get("message", ""),
        "reason": details.get("reason", ""),
        "file": result.get("file", ""),
        "bytes": result.get("bytes"),
        "rows": result.get("rows"),
    }
