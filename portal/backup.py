"""Backup and restore of every setting and all data (DEV-6): one password-protected file.

The file (header, encrypted chunks, trailer) is :mod:`portal.backup_format`. Its plaintext is
JSON lines: one section per table with its columns, then one line per row, read and written
table by table and row batch by row batch, so memory stays flat however large the history is.
The header names the schema (the latest migration of every app); a backup of another schema is
refused.

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
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.dispatch import Signal
from django.utils import timezone
from django.utils.duration import duration_iso_string

from portal import backup_format
from portal.backup_format import TRAILER, BackupError, Header

MAX_LINE_BYTES = 64 * 1024 * 1024
ROW_BATCH = 1000
EXCLUDED = frozenset({"sessions.session"})

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


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


# --- the job's password -------------------------------------------------------------------------


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


def _line(item: Any) -> bytes:
    return json.dumps(item, default=_encode, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def create(
    out: BinaryIO, password: str, progress: Progress = _no_progress, *, kdf: dict[str, int] | None = None
) -> Summary:
    """Write a backup of every table to ``out``; returns what it holds."""
    if not password:
        raise BackupError("A backup needs a password.", "empty_password")
    schema = schema_version()
    writer = backup_format.start(out, password, created=timezone.now().isoformat(), schema=schema, kdf=kdf)
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
    return Summary(
        tables=len(tables), rows=done, bytes=len(writer.header) + writer.body_bytes + TRAILER.size, schema=schema
    )


# --- reading ----------------------------------------------------------------------------------------


def read_header(source: BinaryIO) -> Header:
    """The header and the body's extent, checked (format, schema, trailer); nothing is decrypted yet."""
    return backup_format.read_header(source, _check_schema)


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
    backup_format.open_body(source, header, password)
    return header


# Sent after a restore committed, from the page, the API or ``manage.py backup restore``: every
# plant's settings may have changed (plant.apps tells the workers to reload them).
restored = Signal()


def restore(source: BinaryIO, password: str, progress: Progress = _no_progress) -> Summary:
    """Replace every table with the backup's rows; on any failure nothing changes (BackupError)."""
    header = read_header(source)
    lines = _lines(backup_format.open_body(source, header, password))
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
