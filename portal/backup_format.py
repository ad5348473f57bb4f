"""The backup file (DEV-6): one password-protected container, written and read chunk by chunk.

The file::

    magic "KSEMBKP1" | header length (4 bytes, big-endian) | header (JSON, in clear)
    | encrypted body: AES-256-GCM chunks of CHUNK_BYTES (+16 tag), the last one shorter
    | trailer: body length (8 bytes, big-endian) | "KSEMEND\\0"

The header names the format version, the schema (the latest migration of every app), the key
derivation (scrypt with its salt and cost), the cipher, a random nonce prefix and a password check
value (HMAC of a constant under a second key from the same derivation), so a wrong password is
told apart from a damaged file before anything is read. Every chunk is authenticated with the
whole header as associated data and a nonce of prefix | chunk number | last-chunk flag, so a
changed, dropped, reordered or cut chunk fails its tag; the trailer tells a cut file ("truncated")
from a damaged one. The body is zlib-compressed before it is cut into chunks.

This module knows the container only: what goes into the body (the tables as JSON lines) and
whether the schema fits are :mod:`portal.backup`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"KSEMBKP1"
TRAILER_MAGIC = b"KSEMEND\x00"
TRAILER = struct.Struct(">Q8s")
FORMAT_VERSION = 1
CHUNK_BYTES = 256 * 1024
TAG_BYTES = 16
MAX_HEADER_BYTES = 64 * 1024
# scrypt cost: 2^15 x 8 x 128 bytes = 32 MiB and about 0.1 s per derivation; a file may ask for
# more, up to these bounds (a file that asks for more is refused, not obeyed).
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAX = {"n": 2**20, "r": 16, "p": 4}
_CHECK_TEXT = b"ksem-backup-password-check-v1"


class BackupError(Exception):
    """A backup or restore refused or failed; ``reason`` for programs, the message for people.

    Reasons: ``empty_password``, ``not_backup``, ``format_newer``, ``schema_newer``,
    ``schema_older``, ``wrong_password``, ``truncated``, ``damaged``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Header:
    raw: bytes  # magic, length and JSON as in the file: every chunk's associated data
    fields: dict[str, Any]
    body_offset: int
    body_bytes: int


# --- keys -----------------------------------------------------------------------------------------


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(password.encode("utf-8"))
    return material[:32], material[32:]


def _check_value(check_key: bytes) -> str:
    return hmac.new(check_key, _CHECK_TEXT, hashlib.sha256).hexdigest()


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


# --- writing ----------------------------------------------------------------------------------------


class SealedWriter:
    """Compresses, cuts into chunks and encrypts what is written; ``close`` writes the last chunk and the trailer."""

    def __init__(self, out: BinaryIO, key: bytes, prefix: bytes, header: bytes) -> None:
        self.out, self.aead, self.prefix, self.header = out, AESGCM(key), prefix, header
        self.compressor = zlib.compressobj(6)
        self.buffer = bytearray()
        self.counter = 0
        self.body_bytes = 0

    def write(self, data: bytes) -> None:
        self.buffer += self.compressor.compress(data)
        while len(self.buffer) >= CHUNK_BYTES:
            self._emit(bytes(self.buffer[:CHUNK_BYTES]), last=False)
            del self.buffer[:CHUNK_BYTES]

    def _emit(self, plain: bytes, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.prefix, self.counter, last), plain, self.header)
        self.out.write(sealed)
        self.body_bytes += len(sealed)
        self.counter += 1

    def close(self) -> None:
        self.buffer += self.compressor.flush()
        while len(self.buffer) > CHUNK_BYTES:
            self._emit(bytes(self.buffer[:CHUNK_BYTES]), last=False)
            del self.buffer[:CHUNK_BYTES]
        self._emit(bytes(self.buffer), last=True)
        self.out.write(TRAILER.pack(self.body_bytes, TRAILER_MAGIC))


def start(
    out: BinaryIO, password: str, *, created: str, schema: dict[str, str], kdf: dict[str, int] | None = None
) -> SealedWriter:
    """Write a new backup's header to ``out``; returns the writer that seals the body after it."""
    cost = dict(kdf or SCRYPT)
    salt, prefix = os.urandom(16), os.urandom(7)
    key, check_key = _derive(password, salt, cost["n"], cost["r"], cost["p"])
    fields = {
        "format": FORMAT_VERSION,
        "product": "ksem",
        "created": created,
        "schema": schema,
        "kdf": {"name": "scrypt", "salt": salt.hex(), **cost},
        "cipher": "AES-256-GCM",
        "chunk_bytes": CHUNK_BYTES,
        "compression": "zlib",
        "nonce_prefix": prefix.hex(),
        "check": _check_value(check_key),
    }
    text = json.dumps(fields, separators=(",", ":")).encode()
    header = MAGIC + struct.pack(">I", len(text)) + text
    out.write(header)
    return SealedWriter(out, key, prefix, header)


# --- reading ----------------------------------------------------------------------------------------


def _not_backup(detail: str) -> BackupError:
    return BackupError(f"This file is not a backup of this product ({detail}).", "not_backup")


def read_header(source: BinaryIO, check_schema: Callable[[dict[str, Any]], None]) -> Header:
    """The header and the body's extent, checked (format, ``check_schema``, trailer); nothing is decrypted yet."""
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    if source.read(len(MAGIC)) != MAGIC:
        raise _not_backup("it does not start like one")
    raw_length = source.read(4)
    if len(raw_length) < 4:
        raise BackupError("The backup file is truncated: it ends inside its header.", "truncated")
    (length,) = struct.unpack(">I", raw_length)
    if length > MAX_HEADER_BYTES:
        raise _not_backup("its header is too long")
    text = source.read(length)
    if len(text) < length:
        raise BackupError("The backup file is truncated: it ends inside its header.", "truncated")
    try:
        fields = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise _not_backup("its header is not readable") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("format"), int):
        raise _not_backup("its header names no format")
    if fields["format"] > FORMAT_VERSION:
        raise BackupError(
            f"This backup has format {fields['format']}; this version reads format {FORMAT_VERSION} only. "
            "Update the software first.",
            "format_newer",
        )
    _check_fields(fields)
    check_schema(fields["schema"])
    body_offset = len(MAGIC) + 4 + length
    if size - body_offset < TRAILER.size + TAG_BYTES:
        raise BackupError("The backup file is truncated: its body is missing.", "truncated")
    source.seek(size - TRAILER.size)
    body_bytes, trailer_magic = TRAILER.unpack(source.read(TRAILER.size))
    if trailer_magic != TRAILER_MAGIC:
        raise BackupError("The backup file is truncated: its end is missing.", "truncated")
    if body_bytes != size - body_offset - TRAILER.size:
        raise BackupError("The backup file is damaged: its length does not match its end mark.", "damaged")
    return Header(raw=MAGIC + raw_length + text, fields=fields, body_offset=body_offset, body_bytes=body_bytes)


def _check_fields(fields: dict[str, Any]) -> None:
    kdf = fields.get("kdf")
    ok = (
        isinstance(kdf, dict)
        and kdf.get("name") == "scrypt"
        and all(isinstance(kdf.get(k), int) and 1 <= kdf[k] <= SCRYPT_MAX[k] for k in SCRYPT_MAX)
        and isinstance(kdf.get("salt"), str)
        and fields.get("cipher") == "AES-256-GCM"
        and fields.get("compression") == "zlib"
        and fields.get("chunk_bytes") == CHUNK_BYTES
        and isinstance(fields.get("nonce_prefix"), str)
        and isinstance(fields.get("check"), str)
        and isinstance(fields.get("schema"), dict)
    )
    if not ok:
        raise _not_backup("its header lacks or misstates the encryption settings")
    try:
        if len(bytes.fromhex(fields["nonce_prefix"])) != 7 or not bytes.fromhex(kdf["salt"]):  # type: ignore[index]
            raise ValueError
    except ValueError:
        raise _not_backup("its header lacks or misstates the encryption settings") from None


def open_body(source: BinaryIO, header: Header, password: str) -> Iterator[bytes]:
    """The body's plaintext chunk by chunk, once the password is checked (each chunk authenticated as it is read)."""
    if not password:
        raise BackupError("Enter the backup's password.", "empty_password")
    kdf = header.fields["kdf"]
    key, check_key = _derive(password, bytes.fromhex(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    if not hmac.compare_digest(_check_value(check_key), str(header.fields["check"])):
        raise BackupError("The password is wrong for this backup.", "wrong_password")
    return _chunks(source, header, AESGCM(key), bytes.fromhex(header.fields["nonce_prefix"]))


def _chunks(source: BinaryIO, header: Header, aead: AESGCM, prefix: bytes) -> Iterator[bytes]:
    source.seek(header.body_offset)
    left, counter = header.body_bytes, 0
    decompressor = zlib.decompressobj()
    while left > 0:
        size = min(CHUNK_BYTES + TAG_BYTES, left)
        sealed = source.read(size)
        if len(sealed) < size:
            raise BackupError("The backup file is truncated.", "truncated")
        left -= size
        last = left == 0
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), sealed, header.raw)
        except InvalidTag:
            if last:
                try:  # a whole chunk that is not marked last: chunks were cut off the end
                    aead.decrypt(_nonce(prefix, counter, False), sealed, header.raw)
                except InvalidTag:
                    pass
                else:
                    raise BackupError("The backup file is truncated: its last part is missing.", "truncated") from None
            raise BackupError(
                f"The backup file is damaged: part {counter + 1} does not match its checksum.", "damaged"
            ) from None
        counter += 1
        try:
            data = decompressor.decompress(plain)
            if last:
                data += decompressor.flush()
        except zlib.error:
            raise BackupError("The backup file is damaged: its contents cannot be unpacked.", "damaged") from None
        yield data
