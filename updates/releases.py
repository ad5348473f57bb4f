"""Installing a checked package (DEV-4): what "install" means for this Python product.

An install unpacks the package's payload into ``<var>/releases/<version>/`` (through a temporary
folder, renamed when complete, with ``release.json`` naming the version and the manifest) and then
switches ``<var>/releases/current``, a symbolic link, to it in one atomic rename. The running
processes go on running the code they started with until they are restarted: the page and the API
say so (``restart_needed``). The restart (device page, or the service) runs every process from
``releases/current`` (``ksem_site.supervisor.code_dir``), so they then run the new version.
:func:`rollback` (``manage.py update_rollback``) points ``current`` back.

Installs run as device jobs (:mod:`devicejobs`) in the worker, with progress the page polls. An
upload is checked completely in the request (:func:`updates.package.inspect`, which writes
nothing) before it is stored in ``<var>/updates/`` and handed to the job, which checks it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import devicejobs
from updates import package, version
from updates.models import UpdateRecord, UpdateSettings

INSTALL = "updates.install"
CURRENT = "current"
RELEASE_FILE = "release.json"
KEEP_S = 24 * 3600
_UPLOAD = re.compile(r"^(upload|download)-[0-9a-f]{32}\.ksemupd$")


def register_kinds() -> None:
    devicejobs.register(INSTALL, "updates.releases:install_job")


def public_key() -> Ed25519PublicKey:
    path = Path(settings.KSEM_UPDATE_PUBLIC_KEY)
    try:
        return package.load_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise package.PackageError("no_key", f"The product's update key {path} cannot be read: {error}") from None


def releases_dir() -> Path:
    return Path(settings.VAR_DIR) / "releases"


def incoming_dir() -> Path:
    path = Path(settings.VAR_DIR) / "updates"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def installed_release() -> dict[str, Any] | None:
    """What ``releases/current`` points to (its ``release.json``), or None before the first install."""
    try:
        data = json.loads((releases_dir() / CURRENT / RELEASE_FILE).read_text())
        version.parse(str(data["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def installed_version() -> str | None:
    release = installed_release()
    return str(release["version"]) if release else None


def status() -> dict[str, Any]:
    """The versions for the page and the API."""
    installed = installed_version()
    code = Path(settings.BASE_DIR).resolve()
    runs_from_releases = code.is_relative_to(releases_dir().resolve())
    return {
        "version": version.VERSION,
        "schema": version.SCHEMA,
        "installed_version": installed,
        # The processes run another version than a restart would run (a new release, or one rolled back).
        "restart_needed": bool(installed and installed != version.VERSION) or (not installed and runs_from_releases),
        "releases_dir": str(releases_dir()),
        "runs_from_releases": runs_from_releases,
        "code_dir": str(code),
        # Only under supervisord (make run, the systemd unit) does a restart run releases/current.
        "supervised": (Path(settings.VAR_DIR) / "supervisor.sock").exists(),
    }


class RollbackError(Exception):
    """Nothing to roll back; the message says why."""


def rollback() -> str | None:
    """Point ``current`` at the newest installed release older than the one it points to, or remove
    it when there is none (a restart then runs the checkout); returns the version now current.
    The database is not rolled back."""
    with _one_install_at_a_time():
        link = releases_dir() / CURRENT
        if not link.is_symlink():
            raise RollbackError(f"No release is installed ({link} does not exist): the checkout runs already.")
        now = installed_version()
        if now is None:  # a link to nothing readable: only removed
            link.unlink()
            return None
        older = []
        for folder in releases_dir().iterdir():
            try:
                parsed = version.parse(folder.name)
            except ValueError:
                continue
            if folder.is_dir() and not folder.is_symlink() and version.newer(now, folder.name):
                older.append((parsed, folder.name))
        if not older:
            link.unlink()
            return None
        previous = max(older)[1]
        _switch_current(previous)
        return previous


def inspect_file(source: BinaryIO, progress: package.Progress = package._no_progress) -> package.Manifest:
    return package.inspect(source, public_key(), version.VERSION, installed_version(), version.SCHEMA, progress)


def incoming_path(name: str) -> Path | None:
    if not _UPLOAD.match(name or ""):
        return None
    path = incoming_dir() / name
    return path if path.is_file() else None


def new_incoming_path(kind: str = "upload") -> Path:
    return incoming_dir() / f"{kind}-{secrets.token_hex(16)}{package.SUFFIX}"


def remove_old_files(now: float | None = None) -> None:
    limit = (now or time.time()) - KEEP_S
    for path in incoming_dir().iterdir():
        if _UPLOAD.match(path.name) and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)


def _switch_current(name: str) -> None:
    link = releases_dir() / CURRENT
    temporary = releases_dir() / f".{CURRENT}-{secrets.token_hex(4)}"
    os.symlink(name, temporary)
    os.replace(temporary, link)  # atomic: readers see the old release or the new one, never none


@contextlib.contextmanager
def _one_install_at_a_time() -> Iterator[None]:
    """Installs run one after the other (the worker runs jobs on several threads)."""
    with open(incoming_dir() / ".install.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(path: Path, progress: package.Progress, *, source: str, by: str = "") -> dict[str, Any]:
    """Check the package at ``path`` again, unpack it as a release and point ``current`` to it;
    one install at a time, so the second of two uploads of a version is refused as a reinstall."""
    with _one_install_at_a_time():
        return _install(path, progress, source=source, by=by)


def _install(path: Path, progress: package.Progress, *, source: str, by: str) -> dict[str, Any]:
    previous = installed_version() or version.VERSION
    with open(path, "rb") as stream:
        manifest = inspect_file(stream, lambda f, m: progress(0.4 * f, m))
        stream.seek(0)
        package.read_manifest(stream, public_key())
        root = releases_dir()
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = root / f".partial-{manifest.version}-{secrets.token_hex(4)}"
        partial.mkdir(mode=0o755)
        try:
            files = package.extract(stream, manifest, partial, lambda f, m: progress(0.4 + 0.5 * f, m))
            record = {**manifest.as_dict(), "installed_at": timezone.now().isoformat(), "files": files}
            (partial / RELEASE_FILE).write_text(json.dumps(record, indent=2))
            target = root / manifest.version
            if target.exists():  # left by an install that was rolled back: replaced, never mixed
                shutil.rmtree(target)
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    progress(0.95, "switching to the new release")
    _switch_current(manifest.version)
    with transaction.atomic():
        UpdateRecord.objects.create(
            version=manifest.version, previous_version=previous, source=source, installed_by=by[:150]
        )
        UpdateSettings.objects.filter(pk=1, available_version=manifest.version).update(
            available_version="", available_file=""
        )
    return {"version": manifest.version, "previous_version": previous, "files": files, "restart_needed": True}


def install_job(params: dict[str, Any], run: devicejobs.Runner, progress: devicejobs.Progress) -> dict[str, Any]:
    path = incoming_path(str(params.get("file", "")))
    if path is None:
        raise devicejobs.DeviceJobError("The uploaded package is gone (older than a day?); upload it again.")
    try:
        return install(path, progress, source=str(params.get("source") or "upload"), by=str(params.get("by") or ""))
    except package.PackageError as error:
        raise devicejobs.DeviceJobError(str(error), details={"reason": error.reason}) from None
    finally:
        path.unlink(missing_ok=True)


def start_install(path: Path, *, source: str, by: str = "") -> dict[str, Any]:
    record = devicejobs.submit(INSTALL, {"file": path.name, "source": source, "by": by}, target="update")
    UpdateSettings.load()
    UpdateSettings.objects.filter(pk=1).update(job_id=str(record["id"]))
    return record


def accept_upload(upload: BinaryIO, chunks: Iterable[bytes], *, by: str) -> dict[str, Any]:
    """Check an uploaded package completely (nothing written when it is refused: PackageError),
    then store it and install it in the worker; returns the job's record."""
    inspect_file(upload)
    remove_old_files()
    path = new_incoming_path()
    with open(path, "xb") as out:
        os.chmod(path, 0o600)
        for piece in chunks:
            out.write(piece)
    return start_install(path, source=UpdateRecord.Source.UPLOAD, by=by)


def job_view(job_id: str) -> dict[str, Any] | None:
    """What a page or the API may show of an install job."""
    record = devicejobs.read_job(job_id)
    if record is None or record.get("kind") != INSTALL:
        return None
    result = record.get("result") or {}
    details = record.get("details") or {}
    return {
        "id": job_id,
        "state": record.get("state"),
        "progress_pct": record.get("progress_pct", 0.0),
        "message": record.get("message", ""),
        "reason": details.get("reason", ""),
        "version": result.get("version", ""),
        "restart_needed": bool(result.get("restart_needed")),
    }


def running_job() -> dict[str, Any] | None:
    """The install job that is queued or running, if any (the header shows "update running")."""
    job_id = UpdateSettings.objects.filter(pk=1).values_list("job_id", flat=True).first()
    if not job_id:
        return None
    view = job_view(job_id)
    return view if view and view["state"] not in devicejobs.FINISHED else None
