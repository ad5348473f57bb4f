"""Backup and restore (DEV-6): a round trip brings back every table exactly; a wrong password, a
flipped byte, a cut file, a file from a newer version and a file that is no backup are each
refused with their reason and leave the database as it was. Runs on the suite's test database
(SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from inverters.models import Inverter, PowerSettings
from meter.models import EnergyRecord, Meter, MeterLog
from plant.models import Plant
from plant.options import WALLBOX, set_option
from portal import backup, backup_format
from portal.models import Membership

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
FAST_KDF = {"n": 2**10, "r": 8, "p": 1}


def dump() -> dict[str, list[tuple[Any, ...]]]:
    """Every backed-up table, row by row, as the database has it."""
    return {
        model._meta.label_lower: [
            tuple(row)
            for row in model._base_manager.order_by("pk").values_list(*[f.attname for f in model._meta.concrete_fields])
        ]
        for model in backup.backup_models()
    }


def populate() -> Plant:
    plant = Plant.objects.create(name="Home", time_zone="Europe/Vienna")
    Meter.objects.create(plant=plant, host="192.0.2.10")
    set_option(plant, WALLBOX)
    PowerSettings.objects.create(plant=plant, feed_in_limit_enabled=False, min_soc_pct=12.5)
    Inverter.objects.create(plant=plant, name="Roof", type="piko_iq", host="192.0.2.20", max_ac_w=5500)
    user = get_user_model().objects.create_user("olga", password="Secret-Pass-1", first_name="Olga Ünïcødé")
    Membership.objects.create(user=user, plant=plant, role="operator")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    EnergyRecord.objects.bulk_create(
        EnergyRecord(
            plant=plant,
            time=start + dt.timedelta(hours=h, microseconds=h),
            active_import_wh=h * 1.5,
            active_export_wh=h / 3,
            reactive_import_varh=0,
            reactive_export_varh=0,
            apparent_import_vah=0,
            apparent_export_vah=0,
        )
        for h in range(3000)
    )
    MeterLog.objects.create(plant=plant, start=start, samples=0, gap=True)
    return plant


def make_backup(password: str = PASSWORD) -> bytes:
    out = io.BytesIO()
    backup.create(out, password, kdf=FAST_KDF)
    return out.getvalue()


def change_everything() -> None:
    Plant.objects.filter(name="Home").update(name="Changed", time_zone="UTC")
    EnergyRecord.objects.filter(pk__in=EnergyRecord.objects.order_by("pk").values("pk")[:10]).delete()
    Plant.objects.create(name="New plant")
    get_user_model().objects.create_user("mallory")


def test_a_round_trip_brings_back_every_table_exactly():
    populate()
    before = dump()
    data = make_backup()
    assert data.startswith(backup_format.MAGIC)
    assert b"Olga" not in data and b"192.0.2.10" not in data  # the contents are encrypted
    change_everything()
    assert dump() != before
    fractions: list[float] = []
    summary = backup.restore(io.BytesIO(data), PASSWORD, lambda f, m: fractions.append(f))
    assert dump() == before
    assert summary.rows == sum(len(rows) for rows in before.values())
    assert fractions and fractions[-1] == 1.0
    # restored ids continue: a new row gets a fresh key
    assert Plant.objects.create(name="After").pk > max(row[0] for row in before["plant.plant"])


def restore_fails(data: bytes, password: str = PASSWORD) -> backup.BackupError:
    before = dump()
    with pytest.raises(backup.BackupError) as refused:
        backup.restore(io.BytesIO(data), password)
    assert dump() == before  # nothing changed
    return refused.value


@pytest.fixture
def saved() -> bytes:
    populate()
    data = make_backup()
    change_everything()
    return data


def test_a_wrong_password_changes_nothing(saved: bytes):
    error = restore_fails(saved, "wrong password")
    assert error.reason == "wrong_password"
    assert "password is wrong" in str(error)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_a_flipped_byte_in_the_body_changes_nothing(saved: bytes, where: float):
    header_end = len(backup_format.MAGIC) + 4 + struct.unpack(">I", saved[8:12])[0]
    body_end = len(saved) - backup_format.TRAILER.size
    position = header_end + int((body_end - header_end) * where)
    damaged = bytearray(saved)
    damaged[position] ^= 0x01
    error = restore_fails(bytes(damaged))
    assert error.reason == "damaged"
    assert "damaged" in str(error)


def test_a_changed_header_changes_nothing(saved: bytes):
    damaged = saved.replace(b'"product":"ksem"', b'"product":"ksex"', 1)
    assert damaged != saved
    assert restore_fails(damaged).reason == "damaged"


@pytest.mark.parametrize("cut", [1, 17, 1000, 0.5, 30])
def test_a_truncated_file_changes_nothing(saved: bytes, cut: float):
    length = int(len(saved) * cut) if cut < 1 else len(saved) - int(cut)
    error = restore_fails(saved[:length])
    assert error.reason == "truncated"
    assert "truncated" in str(error)


def test_a_backup_cut_at_a_chunk_boundary_is_truncated(saved: bytes, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(backup_format, "CHUNK_BYTES", 4096)
    data = make_backup()
    header_end = len(backup_format.MAGIC) + 4 + struct.unpack(">I", data[8:12])[0]
    # keep the first two whole chunks and a trailer that agrees with them
    body = data[header_end : header_end + 2 * (4096 + 16)]
    cut = data[:header_end] + body + backup_format.TRAILER.pack(len(body), backup_format.TRAILER_MAGIC)
    assert restore_fails(cut).reason == "truncated"


def test_a_backup_from_a_newer_version_changes_nothing(saved: bytes):
    length = struct.unpack(">I", saved[8:12])[0]
    header = json.loads(saved[12 : 12 + length])
    header["schema"]["plant"] = "9999_from_the_future"
    text = json.dumps(header, separators=(",", ":")).encode()
    newer = backup_format.MAGIC + struct.pack(">I", len(text)) + text + saved[12 + length :]
    error = restore_fails(newer)
    assert error.reason == "schema_newer"
    assert "newer version" in str(error) and "plant.9999_from_the_future" in str(error)


def test_a_backup_of_a_newer_format_changes_nothing(saved: bytes):
    newer = saved.replace(b'"format":1', b'"format":2', 1)
    assert restore_fails(newer).reason == "format_newer"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n" * 100,
        b"PK\x03\x04" + bytes(2000),
        backup_format.MAGIC + b"\x00\x00\x00\x05{oops",
    ],
)
def test_a_file_that_is_no_backup_changes_nothing(saved: bytes, data: bytes):
    assert restore_fails(data).reason in {"not_backup", "truncated"}
    assert restore_fails(data[:8] or b"x").reason in {"not_backup", "truncated"}


def test_plain_files_are_no_backup(saved: bytes):
    assert restore_fails(b"hello, this is a text file\n" * 100).reason == "not_backup"
    assert restore_fails(backup_format.MAGIC + b"\x00\x00\x00\x05{oops" + bytes(40)).reason == "not_backup"


def test_a_backup_needs_a_password():
    with pytest.raises(backup.BackupError) as refused:
        backup.create(io.BytesIO(), "")
    assert refused.value.reason == "empty_password"


def test_passwords_for_jobs_are_sealed():
    token = backup.seal(PASSWORD)
    assert PASSWORD not in token
    assert backup.unseal(token) == PASSWORD
    with pytest.raises(backup.BackupError):
        backup.unseal(token[:-4] + "AAAA")
