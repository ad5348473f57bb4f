"""``manage.py sign_update``: the vendor's side of software updates (DEV-4, docs/updates.md).

    KSEM_UPDATE_SIGNING_KEY=... manage.py sign_update --package-version 0.2.0 --out dist/ksem-0.2.0.ksemupd [--index]
    manage.py sign_update --new-key --public-out updates/keys/update-signing.pub.pem

The private key comes from the environment only (``KSEM_UPDATE_SIGNING_KEY``: the PEM text, or
the 32-byte raw key in base64), never from the repository. ``--index`` adds the package to the
``index.json`` beside it, so that folder (or a web server serving it) is an update source.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from updates import package, sources, version

ENV = "KSEM_UPDATE_SIGNING_KEY"
SKIPPED = {".git", ".venv", "var", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache", "dist"}


def signing_key() -> Ed25519PrivateKey:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        raise CommandError(f"{ENV} is not set: the private signing key comes from the environment")
    try:
        if "BEGIN" in raw:
            return package.load_private_key(raw.replace("\\n", "\n").encode())
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw, validate=True))
    except (ValueError, TypeError, binascii.Error) as error:
        raise CommandError(f"{ENV} holds no Ed25519 private key: {error}") from None


def release_files(root: Path) -> list[str]:
    names = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIPPED or part.endswith(".pyc") for part in relative.parts) or path.is_symlink():
            continue
        if path.is_file():
            names.append(str(relative))
    return names


def add_to_index(folder: Path, new_version: str, name: str) -> None:
    index = folder / sources.INDEX
    offers = sources.parse_index(index.read_bytes()) if index.exists() else []
    entries = [{"version": o.version, "file": o.file} for o in offers if o.version != new_version]
    entries.append({"version": new_version, "file": name})
    entries.sort(key=lambda e: version.parse(e["version"]))
    index.write_text(json.dumps({"packages": entries}, indent=2) + "\n")


class Command(BaseCommand):
    help = "Build and sign an update package (the key from KSEM_UPDATE_SIGNING_KEY), or make a new key pair."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--package-version", dest="new_version", help="the package's version, MAJOR.MINOR.PATCH")
        parser.add_argument("--min-schema", type=int, default=version.SCHEMA, help="lowest schema it migrates from")
        parser.add_argument("--source", type=Path, default=Path(settings.BASE_DIR), help="the release's folder")
        parser.add_argument("--out", type=Path, help="the package file to write")
        parser.add_argument("--index", action="store_true", help="add it to index.json beside --out")
        parser.add_argument("--new-key", action="store_true", help="print a new private key, write its public key")
        parser.add_argument("--public-out", type=Path, help="with --new-key: where the public key goes")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            private_pem, public_pem = package.new_key_pair()
            if options["public_out"]:
                options["public_out"].write_bytes(public_pem)
            else:
                self.stdout.write(public_pem.decode())
            self.stderr.write(f"The private key (keep it secret, pass it as {ENV}):")
            self.stdout.write(private_pem.decode())
            return
        new_version, out = options["new_version"], options["out"]
        if not new_version or out is None:
            raise CommandError("--package-version and --out are needed")
        try:
            version.parse(new_version)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if out.suffix != package.SUFFIX:
            raise CommandError(f"the package's name must end in {package.SUFFIX}")
        key = signing_key()
        root: Path = options["source"].resolve()
        if not root.is_dir():
            raise CommandError(f"{root} is no folder")
        payload = package.payload_from(root, release_files(root))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(package.build(payload, new_version, options["min_schema"], key))
        if options["index"]:
            try:
                add_to_index(out.parent, new_version, out.name)
            except sources.SourceError as error:
                raise CommandError(f"the index beside {out} is not valid: {error}") from None
        self.stdout.write(f"{out}: version {new_version}, {len(payload)} bytes of payload, signed")
