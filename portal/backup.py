"""Backup and restore of every setting and all data (DEV-6): one password-protected file.

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
from a damaged one. The plaintext is zlib-compressed JSON lines: one section per table with its
columns, then one line per row, read and written table by table and row batch by row batch, so
memory stays flat however large the history is.

Restore checks the header, the trailer and the password first, then empties and refills every
table inside one transaction: any failure on the way (a chunk that does not authenticate, a cut
body, rows that break a constraint) rolls back and leaves the database as it was.

This module knows no app of ours: it backs up every model Django knows (sessions excepted).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import hmac
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.dispatch import Signal
from django.utils import timezone
from django.utils.duration import duration_iso_string

MAGIC = b"KSEMBKP1"
TRAILER_MAGIC = b"KSEMEND\x00"
TRAILER = struct.Struct(">Q8s")
FORMAT_VERSION = 1
CHUNK_BYTES = 256 * 1024
TAG_BYTES = 16
MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024
ROW_BATCH = 1000
# scrypt cost: 2^15 x 8 x 128 bytes = 32 MiB and about 0.1 s per derivation; a file may ask for
# more, up to these bounds (a file that asks for more is refused, not obeyed).
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAX = {"n": 2**20, "r": 16, "p": 4}
EXCLUDED = frozenset({"sessions.session"})
_CHECK_TEXT = b"ksem-backup-password-check-v1"

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


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


@dataclass(frozen=True)
class Summary:
    tables: int
    rows: int
    bytes: int
    schema: dict[str, str]


# --- what is backed up ------------------------------------------------------------------------


def backup_models() -> list[type[models.Model]]:
    """Every table Django manages (many-to-many tables included), sessions excepted, by label."""
    found = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in EXCLUDED
    ]
    return sorted(found, key=lambda model: model._meta.label_lower)


def schema_version() -> dict[str, str]:
    """The latest migration of every app, as this installation's code has them."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {app: name for app, name in sorted(loader.graph.leaf_nodes())}


def _columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return list(model._meta.concrete_fields)


# --- values in and out --------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def _decode(field: models.Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return field.get_db_prep_save(value, connection)
    return field.get_db_prep_save(field.to_python(value), connection)


# --- keys -----------------------------------------------------------------------------------------


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(password.encode("utf-8"))
    return material[:32], material[32:]


def _check_value(check_key: bytes) -> str:
    return hmac.new(check_key, _CHECK_TEXT, hashlib.sha256).hexdigest()


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _fernet() -> Fernet:
    key = hashlib.sha256(b"ksem-backup-job-v1|" + str(settings.SECRET_KEY).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    """A password for a job message: encrypted with a key from the device secret, never in clear in Redis."""
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str, max_age_s: int = 3600) -> str:
    try:
        return _fernet().decrypt(token.encode(), ttl=max_age_s).decode()
    except (InvalidToken, ValueError):
        raise BackupError("The job's password could not be read (expired or from another device).", "damaged") from None


# --- writing ----------------------------------------------------------------------------------------


class _SealedWriter:
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


def _line(item: Any) -> bytes:
    return json.dumps(item, default=_encode, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def create(
    out: BinaryIO, password: str, progress: Progress = _no_progress, *, kdf: dict[str, int] | None = None
) -> Summary:
    """Write a backup of every table to ``out``; returns what it holds."""
    if not password:
        raise BackupError("A backup needs a password.", "empty_password")
    cost = dict(kdf or SCRYPT)
    salt, prefix = os.urandom(16), os.urandom(7)
    key, check_key = _derive(password, salt, cost["n"], cost["r"], cost["p"])
    schema = schema_version()
    fields = {
        "format": FORMAT_VERSION,
        "product": "ksem",
        "created": timezone.now().isoformat(),
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
    writer = _SealedWriter(out, key, prefix, header)
    tables = backup_models()
    done = 0
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":  # one snapshot for every table
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        counts = {model._meta.label_lower: model._base_manager.count() for model in tables}
        total = sum(counts.values())
        writer.write(_line({"rows_total": total, "tables": list(counts)}))
        for model in tables:
            label = model._meta.label_lower
            columns = [field.attname for field in _columns(model)]
            writer.write(_line({"table": label, "columns": columns}))
            rows = model._base_manager.order_by("pk").values_list(*columns).iterator(chunk_size=2000)
            for row in rows:
                writer.write(_line(list(row)))
                done += 1
                if done % 5000 == 0:
                    progress(done / max(total, 1), label)
            writer.write(_line({"end_table": label}))
        writer.write(_line({"end": True, "rows": done}))
    writer.close()
    progress(1.0, "")
    return Summary(tables=len(tables), rows=done, bytes=len(header) + writer.body_bytes + TRAILER.size, schema=schema)


# --- reading ----------------------------------------------------------------------------------------


def _not_backup(detail: str) -> BackupError:
    return BackupError(f"This file is not a backup of this product ({detail}).", "not_backup")


def read_header(source: BinaryIO) -> Header:
    """The header and the body's extent, checked (format, schema, trailer); nothing is decrypted yet."""
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
    _check_schema(fields["schema"])
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


def _check_schema(schema: dict[str, Any]) -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.graph.nodes)
    unknown = sorted(f"{app}.{name}" for app, name in schema.items() if (app, str(name)) not in known)
    if unknown:
        raise BackupError(
            "This backup was made by a newer version (its data has changes this version does not know: "
            f"{', '.join(unknown[:3])}). Update the software first.",
            "schema_newer",
        )
    current = schema_version()
    if schema != current:
        behind = sorted(app for app in current if schema.get(app) != current[app])
        raise BackupError(
            "This backup was made by an older version (it lacks later changes of "
            f"{', '.join(behind[:5])}); restore it with the version that made it, then update.",
            "schema_older",
        )


def _open_body(source: BinaryIO, header: Header, password: str) -> Iterator[bytes]:
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


def _lines(chunks: Iterator[bytes]) -> Iterator[Any]:
    pending = b""
    for data in chunks:
        pending += data
        *complete, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise BackupError("The backup file is damaged: a row is too long.", "damaged")
        for line in complete:
            try:
                yield json.loads(line)
            except ValueError:
                raise BackupError("The backup file is damaged: a row cannot be read.", "damaged") from None
    if pending:
        raise BackupError("The backup file is damaged: it ends inside a row.", "damaged")


def inspect(source: BinaryIO, password: str) -> Header:
    """Header, trailer and password checked, without touching the database (the page's first answer)."""
    header = read_header(source)
    _open_body(source, header, password)
    return header


# Sent after a restore committed, from the page, the API or ``manage.py backup restore``: every
# plant's settings may have changed (plant.apps tells the workers to reload them).
restored = Signal()


def restore(source: BinaryIO, password: str, progress: Progress = _no_progress) -> Summary:
    """Replace every table with the backup's rows; on any failure nothing changes (BackupError)."""
    header = read_header(source)
    lines = _lines(_open_body(source, header, password))
    tables = {model._meta.label_lower: model for model in backup_models()}
    try:
        with transaction.atomic():
            summary = _apply(lines, tables, header, progress)
    except DatabaseError as error:
        raise BackupError(
            f"The backup's rows do not fit this database ({error}); nothing was changed.", "damaged"
        ) from None
    restored.send(sender=None)
    progress(1.0, "")
    return summary


def _damaged(detail: str) -> BackupError:
    return BackupError(f"The backup file is damaged: {detail}.", "damaged")


def _apply(lines: Iterator[Any], tables: dict[str, type[models.Model]], header: Header, progress: Progress) -> Summary:
    first = next(lines, None)
    if not isinstance(first, dict) or not isinstance(first.get("rows_total"), int):
        raise _damaged("its table list is missing")
    if sorted(first.get("tables") or []) != sorted(tables):
        raise _damaged("its tables are not this version's tables")
    total, done, seen = int(first["rows_total"]), 0, 0
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for model in tables.values():
            cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")
        while True:
            item = next(lines, None)
            if item is None:
                raise BackupError("The backup file is truncated: its end is missing.", "truncated")
            if isinstance(item, dict) and item.get("end") is True:
                break
            if not isinstance(item, dict) or item.get("table") not in tables:
                raise _damaged("a table section is not readable")
            model = tables[item["table"]]
            by_name = {field.attname: field for field in _columns(model)}
            columns = item.get("columns")
            if not isinstance(columns, list) or sorted(columns) != sorted(by_name):
                raise _damaged(f"the columns of {item['table']} are not this version's")
            fields = [by_name[name] for name in columns]
            sql = (
                f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
                f"VALUES ({', '.join(['%s'] * len(fields))})"
            )
            batch: list[list[Any]] = []
            while True:
                row = next(lines, None)
                if row is None:
                    raise BackupError("The backup file is truncated: it ends inside a table.", "truncated")
                if isinstance(row, dict):
                    if row.get("end_table") != item["table"]:
                        raise _damaged(f"the table {item['table']} does not end where it should")
                    break
                if not isinstance(row, list) or len(row) != len(fields):
                    raise _damaged(f"a row of {item['table']} has the wrong number of values")
                try:
                    batch.append([_decode(field, value) for field, value in zip(fields, row, strict=True)])
                except (ValueError, TypeError) as error:
                    raise _damaged(f"a value of {item['table']} is not readable ({error})") from None
                if len(batch) >= ROW_BATCH:
                    cursor.executemany(sql, batch)
                    done += len(batch)
                    batch = []
                    progress(done / max(total, 1), item["table"])
            if batch:
                cursor.executemany(sql, batch)
                done += len(batch)
            seen += 1
        if next(lines, None) is not None:
            raise _damaged("there is more after its end")
        for statement in connection.ops.sequence_reset_sql(no_style(), list(tables.values())):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # violations now, inside the transaction
    return Summary(tables=seen, rows=done, bytes=header.body_offset + header.body_bytes + TRAILER.size,
                   schema=dict(header.fields["schema"]))  # fmt: skip
