"""``manage.py backup create --out FILE`` and ``manage.py backup restore FILE`` (DEV-6), for scripts.

The password comes from ``--password-file`` (its first line) or ``KSEM_BACKUP_PASSWORD``; there is
no prompt. Exit 0 on success; on failure a non-zero status and the reason on stderr (nothing changed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import backup

PASSWORD_ENV = "KSEM_BACKUP_PASSWORD"


class Command(BaseCommand):
    help = "Create or restore an encrypted backup of every setting and all data."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="write a backup")
        create.add_argument("--out", type=Path, required=True, help="the backup file to write")
        restore = actions.add_parser("restore", help="replace every setting and all data with a backup's")
        restore.add_argument("file", type=Path, help="the backup file")
        for sub in (create, restore):
            sub.add_argument("--password-file", type=Path, help=f"the password's file (else ${PASSWORD_ENV})")
            sub.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def _password(self, options: dict[str, Any]) -> str:
        if options.get("password_file") is not None:
            try:
                lines = options["password_file"].read_text(encoding="utf-8").splitlines()
            except OSError as error:
                raise CommandError(f"cannot read the password file: {error.strerror or error}") from None
            except UnicodeDecodeError:
                raise CommandError("the password file is not UTF-8 text") from None
            password = lines[0] if lines else ""
        else:
            password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise CommandError(f"no password: pass --password-file or set {PASSWORD_ENV}")
        return password

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._password(options)
        shown = [-1]

        def progress(fraction: float, message: str) -> None:
            percent = int(fraction * 100)
            if not options["quiet"] and percent // 10 != shown[0]:
                shown[0] = percent // 10
                sys.stderr.write(f"{percent:3d} % {message}\n")

        try:
            if options["action"] == "create":
                out: Path = options["out"]
                partial = out.with_name(out.name + ".partial")
                try:
                    with open(partial, "wb") as stream:
                        summary = backup.create(stream, password, progress)
                    partial.replace(out)
                finally:
                    partial.unlink(missing_ok=True)
                self.stdout.write(
                    f"Backup written to {out}: {summary.tables} tables, {summary.rows} rows, {summary.bytes} bytes."
                )
            else:
                path: Path = options["file"]
                if not path.is_file():
                    raise CommandError(f"cannot read {path}: no such file")
                with open(path, "rb") as source:
                    summary = backup.restore(source, password, progress)
                self.stdout.write(f"Restored {summary.tables} tables, {summary.rows} rows from {options['file']}.")
        except backup.BackupError as error:
            raise CommandError(f"{error} [{error.reason}]") from None
        except OSError as error:
            raise CommandError(f"{error.filename or 'file'}: {error.strerror or error}") from None
