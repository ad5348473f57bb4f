"""Update packages (DEV-4): the format, the vendor's signing and the device's checks.

A package is one file::

    magic "KSEMUPD1" | manifest length (4 bytes, big-endian) | manifest (JSON, UTF-8)
    | Ed25519 signature (64 bytes) of everything before it | payload (a tar.gz of the release)

The manifest names the product, the version, the lowest database schema generation the release
migrates from (``min_schema``), the payload's length and its SHA-256. The signature covers the
magic, the length and the manifest, so the payload is bound to it through its hash.

:func:`inspect` checks a package in this order and writes nothing: the magic, the signature
against the product's public key (before a byte of the manifest is believed), the manifest's
fields, the version (newer than what runs and what is installed), the schema, the payload's
length and hash, then every member of the tar.gz (regular files and folders only, relative paths
without ``..``: no links, devices or absolute paths). :func:`extract` unpacks an inspected payload
member by member, writing each file itself (never ``tarfile.extract``), and checks each member
again on the way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import stat
import struct
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from updates import version

MAGIC = b"KSEMUPD1"
LENGTH = struct.Struct(">I")
SIGNATURE_BYTES = 64
MAX_MANIFEST_BYTES = 16 * 1024
MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
PRODUCT = "ksem"
FORMAT = 1
SUFFIX = ".ksemupd"
BLOCK = 256 * 1024

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


class PackageError(Exception):
    """A package refused; ``reason`` for programs, the message for people.

    Reasons: ``not_package``, ``truncated``, ``bad_signature``, ``bad_manifest``, ``wrong_product``,
    ``downgrade``, ``schema_too_old``, ``damaged``, ``broken_archive``, ``unsafe_member``,
    ``too_large``, ``no_key``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Manifest:
    version: str
    min_schema: int
    payload_sha256: str
    payload_bytes: int
    created: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "product": PRODUCT,
            "version": self.version,
            "min_schema": self.min_schema,
            "payload_sha256": self.payload_sha256,
            "payload_bytes": self.payload_bytes,
            "created": self.created,
        }


# --- keys ---------------------------------------------------------------------------------------


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the update key is no Ed25519 public key")
    return key


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key is no Ed25519 private key")
    return key


def new_key_pair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a fresh Ed25519 key pair."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


# --- the vendor's side ---------------------------------------------------------------------------


def payload_from(root: Path, names: Iterable[str] | None = None) -> bytes:
    """A tar.gz of the files under ``root`` (relative names, regular files and folders only)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        chosen = sorted(names) if names is not None else sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        for name in chosen:
            path = root / name
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            archive.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def build(payload: bytes, new_version: str, min_schema: int, private_key: Ed25519PrivateKey) -> bytes:
    """A signed package of ``payload`` (a tar.gz) as ``new_version``."""
    version.parse(new_version)
    manifest = Manifest(
        version=new_version,
        min_schema=int(min_schema),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_bytes=len(payload),
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )
    body = json.dumps(manifest.as_dict(), sort_keys=True).encode()
    head = MAGIC + LENGTH.pack(len(body)) + body
    return head + private_key.sign(head) + payload


# --- the device's side ---------------------------------------------------------------------------


def _read_exact(source: BinaryIO, count: int, what: str) -> bytes:
    data = source.read(count)
    if len(data) != count:
        raise PackageError("truncated", f"The file ends inside its {what}: it is cut off.")
    return data


def read_manifest(source: BinaryIO, public_key: Ed25519PublicKey) -> Manifest:
    """Magic, signature, then the manifest's fields; leaves ``source`` at the payload's start."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise PackageError("not_package", "This is no update package of this product.")
    raw_length = _read_exact(source, LENGTH.size, "header")
    (length,) = LENGTH.unpack(raw_length)
    if not 2 <= length <= MAX_MANIFEST_BYTES:
        raise PackageError("bad_manifest", f"The package's manifest length ({length} bytes) is out of range.")
    body = _read_exact(source, length, "manifest")
    signature = _read_exact(source, SIGNATURE_BYTES, "signature")
    try:
        public_key.verify(signature, magic + raw_length + body)
    except InvalidSignature:
        raise PackageError(
            "bad_signature", "The package's signature does not match the product's update key: it was refused."
        ) from None
    return _manifest(body)


def _manifest(body: bytes) -> Manifest:
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if data.get("product") != PRODUCT:
            raise PackageError("wrong_product", "The package is for another product.")
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
        new_version = str(data["version"])
        version.parse(new_version)
        min_schema, size, digest = data["min_schema"], data["payload_bytes"], str(data["payload_sha256"])
        if not isinstance(min_schema, int) or not isinstance(size, int) or min_schema < 0 or size <= 0:
            raise ValueError("min_schema and payload_bytes must be positive whole numbers")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("payload_sha256 is no SHA-256 in hex")
        return Manifest(new_version, min_schema, digest, size, str(data.get("created", "")))
    except PackageError:
        raise
    except (ValueError, KeyError, TypeError) as error:
        raise PackageError("bad_manifest", f"The package's manifest is not valid: {error}.") from None


def check_version(manifest: Manifest, running: str, installed: str | None, schema: int) -> None:
    newest = max([running, *([installed] if installed else [])], key=version.parse)
    if not version.newer(manifest.version, newest):
        raise PackageError(
            "downgrade",
            f"The package holds version {manifest.version}, which is not newer than {newest}: "
            "downgrades and reinstalls are refused.",
        )
    if manifest.min_schema > schema:
        raise PackageError(
            "schema_too_old",
            f"Version {manifest.version} needs database schema {manifest.min_schema} or later; this installation "
            f"has {schema}. Install an intermediate version first.",
        )


def check_member(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's relative path if it is a regular file or folder inside the release; else refused."""
    name = member.name
    path = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or path.is_absolute()
        or ".." in path.parts
        or (path.parts and ":" in path.parts[0])
    ):
        raise PackageError("unsafe_member", f"The package holds a file outside its folder ({name!r}): refused.")
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise PackageError(
            "unsafe_member", f"The package holds a {kind} ({name!r}); only files and folders may be in it."
        )
    if path.parts == () or path == PurePosixPath("."):
        if member.isdir():
            return path
        raise PackageError("unsafe_member", f"The package holds a member without a name ({name!r}).")
    return path


def _payload_hash(source: BinaryIO, manifest: Manifest, progress: Progress, share: float) -> None:
    digest = hashlib.sha256()
    done = 0
    while done < manifest.payload_bytes:
        block = source.read(min(BLOCK, manifest.payload_bytes - done))
        if not block:
            raise PackageError("truncated", "The package ends before its payload does: it is cut off.")
        digest.update(block)
        done += len(block)
        progress(share * done / manifest.payload_bytes, "checking the payload")
    if source.read(1):
        raise PackageError("damaged", "The package has data after its payload: it was changed.")
    if digest.hexdigest() != manifest.payload_sha256:
        raise PackageError("damaged", "The payload's checksum does not match its signed manifest: the file is damaged.")


def _members(source: BinaryIO) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, PurePosixPath]]:
    count = unpacked = 0
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    try:
        with tarfile.open(fileobj=source, mode="r|gz") as archive:
            for member in archive:
                count += 1
                unpacked += max(0, member.size)
                if count > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
                    raise PackageError(
                        "too_large", "The package unpacks to more files or bytes than a release may have."
                    )
                path = check_member(member)
                if path in files or (member.isfile() and path in folders) or any(p in files for p in path.parents):
                    raise PackageError("unsafe_member", f"The package holds {member.name!r} twice or inside a file.")
                (files if member.isfile() else folders).add(path)
                yield archive, member, path
    except (tarfile.TarError, zlib.error, EOFError, OSError) as error:
        raise PackageError("broken_archive", f"The payload is no readable tar.gz archive ({error}).") from None
    if count == 0:
        raise PackageError("broken_archive", "The payload is an empty archive.")


def inspect(
    source: BinaryIO,
    public_key: Ed25519PublicKey,
    running: str,
    installed: str | None,
    schema: int,
    progress: Progress = _no_progress,
) -> Manifest:
    """Every check of a package, writing nothing; :class:`PackageError` with the reason."""
    source.seek(0)
    manifest = read_manifest(source, public_key)
    check_version(manifest, running, installed, schema)
    start = source.tell()
    _payload_hash(source, manifest, progress, 0.5)
    source.seek(start)
    size = manifest.payload_bytes
    for _member in _members(source):
        progress(0.5 + 0.5 * min(1.0, (source.tell() - start) / size), "checking the files")
    progress(1.0, "checked")
    return manifest


def extract(source: BinaryIO, manifest: Manifest, target: Path, progress: Progress = _no_progress) -> int:
    """Unpack the payload (``source`` at its start) into the empty folder ``target``; returns the file count."""
    start = source.tell()
    files = 0
    for archive, member, path in _members(source):
        destination = target.joinpath(*path.parts)
        if member.isdir():
            destination.mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        reader = archive.extractfile(member)
        if reader is None:  # pragma: no cover - a regular file always has a reader
            raise PackageError("broken_archive", f"{member.name!r} cannot be read.")
        mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
        with os.fdopen(fd, "wb") as out:
            while block := reader.read(BLOCK):
                out.write(block)
        files += 1
        progress(min(1.0, (source.tell() - start) / manifest.payload_bytes), f"unpacking {member.name}")
    return files
