"""The update source (``KSEM_UPDATE_URL``) and the periodic check (DEV-4: automatic and notify).

The source is a folder on the device or an HTTP(S) address; either holds ``index.json``::

    {"packages": [{"version": "0.2.0", "file": "ksem-0.2.0.ksemupd"}, ...]}

next to the package files (``manage.py sign_update --index`` writes both). The check reads the
index, picks the newest version above the one running and the one installed, and records it; in
``notify`` mode the page shows it with an install button, in ``automatic`` mode the package is
fetched and installed at once (the same checks as an upload: nothing is installed unless its
signature, version and contents pass). ``manual`` checks nothing.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from updates import package, releases, version
from updates.models import UpdateRecord, UpdateSettings

log = logging.getLogger(__name__)

INDEX = "index.json"
MAX_INDEX_BYTES = 64 * 1024
TIMEOUT_S = 15.0
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.ksemupd$")


class SourceError(Exception):
    """The source cannot be read or its index is not valid; the message says which."""


@dataclass(frozen=True)
class Offer:
    version: str
    file: str


def source_url() -> str:
    return str(getattr(settings, "KSEM_UPDATE_URL", "") or "")


def _is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _read(url: str, name: str, limit: int) -> bytes:
    if _is_http(url):
        address = url.rstrip("/") + "/" + urllib.parse.quote(name)
        try:
            with urllib.request.urlopen(address, timeout=TIMEOUT_S) as response:
                data: bytes = response.read(limit + 1)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise SourceError(f"{address} cannot be read: {error}") from None
    else:
        path = Path(url.removeprefix("file://")) / name
        try:
            with open(path, "rb") as stream:
                data = stream.read(limit + 1)
        except OSError as error:
            raise SourceError(f"{path} cannot be read: {error.strerror or error}") from None
    if len(data) > limit:
        raise SourceError(f"{name} at the update source is larger than {limit} bytes")
    return data


def parse_index(raw: bytes) -> list[Offer]:
    """The packages an index offers; SourceError naming what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"the update index is not JSON ({error})") from None
    entries = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SourceError('the update index has no list "packages"')
    offers = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise SourceError("an entry of the update index is no object")
        name, number = str(entry.get("file", "")), str(entry.get("version", ""))
        try:
            version.parse(number)
        except ValueError as error:
            raise SourceError(f"the update index names a bad version: {error}") from None
        if not _FILE.match(name):
            raise SourceError(f"the update index names a bad file {name!r}")
        offers.append(Offer(number, name))
    return offers


def newest_offer(offers: list[Offer]) -> Offer | None:
    floor = max([version.VERSION, *filter(None, [releases.installed_version()])], key=version.parse)
    newer = [o for o in offers if version.newer(o.version, floor)]
    return max(newer, key=lambda o: version.parse(o.version)) if newer else None


def fetch(offer: Offer) -> Path:
    """Download the offered package into the incoming folder (bounded by the upload cap)."""
    from updates.limits import UPDATE_PACKAGE

    data = _read(source_url(), offer.file, UPDATE_PACKAGE.max_bytes)
    path = releases.new_incoming_path("download")
    with open(path, "xb") as out:
        path.chmod(0o600)
        out.write(data)
    return path


def check(*, install: bool | None = None) -> dict[str, Any]:
    """Read the source, record what it offers, and in automatic mode (or ``install=True``) install it.

    Returns what was found for the caller (the beat task logs it, the page shows it)."""
    row = UpdateSettings.load()
    url = source_url()
    if install is None and row.mode == UpdateSettings.Mode.MANUAL:
        return {"checked": False, "reason": "manual"}
    if not url:
        UpdateSettings.objects.filter(pk=1).update(
            checked_at=timezone.now(), check_error="No update source is configured (KSEM_UPDATE_URL)."
        )
        return {"checked": False, "reason": "no_source"}
    try:
        offer = newest_offer(parse_index(_read(url, INDEX, MAX_INDEX_BYTES)))
    except SourceError as error:
        UpdateSettings.objects.filter(pk=1).update(checked_at=timezone.now(), check_error=str(error))
        return {"checked": True, "error": str(error)}
    UpdateSettings.objects.filter(pk=1).update(
        checked_at=timezone.now(),
        check_error="",
        available_version=offer.version if offer else "",
        available_file=offer.file if offer else "",
    )
    result: dict[str, Any] = {"checked": True, "available": offer.version if offer else None}
    wanted = install if install is not None else row.mode == UpdateSettings.Mode.AUTOMATIC
    if offer and wanted and releases.running_job() is None:
        path: Path | None = None
        try:
            path = fetch(offer)
            with open(path, "rb") as stream:
                releases.inspect_file(stream)  # refused here: nothing queued, the reason recorded
        except (SourceError, package.PackageError) as error:
            if path is not None:
                path.unlink(missing_ok=True)
            UpdateSettings.objects.filter(pk=1).update(check_error=f"Version {offer.version}: {error}")
            return {**result, "error": str(error)}
        source = UpdateRecord.Source.AUTOMATIC if install is None else UpdateRecord.Source.SOURCE
        record = releases.start_install(path, source=source)
        result["job"] = record["id"]
    return result
