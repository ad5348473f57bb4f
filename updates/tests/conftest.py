"""Update tests: their own key pair (the product points at its public key), a fresh var/ folder,
and jobs run in this process as the worker runs them (Celery's eager mode)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from updates import package


@dataclass
class Keys:
    private: Ed25519PrivateKey
    public_path: Path


@pytest.fixture
def keys(settings: Any, tmp_path: Path) -> Keys:
    private_pem, public_pem = package.new_key_pair()
    path = tmp_path / "test-update-key.pub.pem"
    path.write_bytes(public_pem)
    settings.KSEM_UPDATE_PUBLIC_KEY = path
    return Keys(package.load_private_key(private_pem), path)


@pytest.fixture(autouse=True)
def _var_and_eager_jobs(settings: Any, tmp_path: Path) -> Iterator[Path]:
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - registers the device-job task

    var = tmp_path / "var"
    var.mkdir()
    settings.VAR_DIR = var
    settings.KSEM_UPDATE_URL = ""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield var
    app.conf.task_always_eager = before


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file_member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def release_payload(version: str) -> bytes:
    return tar_gz(
        [
            file_member("updates/version.py", f'VERSION = "{version}"\n'.encode()),
            file_member("manage.py", b"#!/usr/bin/env python\n", 0o755),
            file_member("README.md", b"the new release\n"),
        ]
    )


def make_package(keys: Keys, version: str = "0.2.0", payload: bytes | None = None, min_schema: int = 1) -> bytes:
    return package.build(
        payload if payload is not None else release_payload(version), version, min_schema, keys.private
    )
