"""The package format's checks (DEV-4), table-driven: each refusal names its reason, and nothing
about a package is believed before its signature is checked."""

from __future__ import annotations

import io
import tarfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from updates import package, version
from updates.tests.conftest import Keys, file_member, make_package, release_payload, tar_gz


def inspect(data: bytes, keys: Keys, running: str = "0.1.0", installed: str | None = None, schema: int = 1):
    public = package.load_public_key(keys.public_path.read_bytes())
    return package.inspect(io.BytesIO(data), public, running, installed, schema)


def reason(data: bytes, keys: Keys, **kwargs) -> str:
    with pytest.raises(package.PackageError) as refused:
        inspect(data, keys, **kwargs)
    return refused.value.reason


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0.1.0", (0, 1, 0)), ("1.10.2", (1, 10, 2)), ("10.0.0", (10, 0, 0))],
)
def test_versions_parse(text: str, parsed: tuple[int, int, int]) -> None:
    assert version.parse(text) == parsed


@pytest.mark.parametrize("text", ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-rc1", "v1.2.3", " 1.2.3", "1.2.x"])
def test_anything_else_is_no_version(text: str) -> None:
    with pytest.raises(ValueError, match="no version"):
        version.parse(text)


@given(st.tuples(*[st.integers(0, 999)] * 3), st.tuples(*[st.integers(0, 999)] * 3))
def test_newer_orders_by_number_not_by_text(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    assert version.newer(".".join(map(str, a)), ".".join(map(str, b))) == (a > b)


def test_the_version_is_the_one_in_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == version.VERSION


def test_a_good_package_passes_and_names_its_version(keys: Keys) -> None:
    manifest = inspect(make_package(keys, "0.2.0"), keys)
    assert manifest.version == "0.2.0" and manifest.min_schema == 1


def test_a_package_signed_with_another_key_is_refused(keys: Keys) -> None:
    other = Keys(package.load_private_key(package.new_key_pair()[0]), keys.public_path)
    assert reason(make_package(other), keys) == "bad_signature"


def test_a_changed_manifest_breaks_the_signature(keys: Keys) -> None:
    data = make_package(keys, "0.2.0")
    assert reason(data.replace(b'"version": "0.2.0"', b'"version": "9.2.0"'), keys) == "bad_signature"


@pytest.mark.parametrize(
    ("running", "installed", "offered"),
    [("0.1.0", None, "0.1.0"), ("0.1.0", None, "0.0.9"), ("0.1.0", "0.3.0", "0.2.0"), ("0.1.0", "0.2.0", "0.2.0")],
)
def test_downgrades_and_reinstalls_are_refused(keys: Keys, running: str, installed: str | None, offered: str) -> None:
    assert reason(make_package(keys, offered), keys, running=running, installed=installed) == "downgrade"


def test_a_package_for_a_newer_schema_start_is_refused(keys: Keys) -> None:
    assert reason(make_package(keys, "0.2.0", min_schema=2), keys, schema=1) == "schema_too_old"


def test_files_that_are_no_package(keys: Keys) -> None:
    assert reason(b"", keys) == "not_package"
    assert reason(b"PK\x03\x04 a zip file", keys) == "not_package"
    assert reason(release_payload("0.2.0"), keys) == "not_package"


@pytest.mark.parametrize("cut", [9, 12, 40, 150])
def test_a_package_cut_in_its_head_is_truncated(keys: Keys, cut: int) -> None:
    assert reason(make_package(keys)[:cut], keys) in {"truncated", "bad_manifest"}


def test_a_package_cut_in_its_payload_is_truncated(keys: Keys) -> None:
    assert reason(make_package(keys)[:-10], keys) == "truncated"


def test_a_flipped_byte_in_the_payload_is_damage(keys: Keys) -> None:
    data = bytearray(make_package(keys))
    data[-20] ^= 0x01
    assert reason(bytes(data), keys) == "damaged"


def test_data_after_the_payload_is_damage(keys: Keys) -> None:
    assert reason(make_package(keys) + b"x", keys) == "damaged"


def test_a_signed_payload_that_is_no_tar_gz_is_refused(keys: Keys) -> None:
    assert reason(make_package(keys, payload=b"this is not gzip at all"), keys) == "broken_archive"


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


@pytest.mark.parametrize(
    "member",
    [
        file_member("../evil.py", b"x"),
        file_member("ksem/../../evil.py", b"x"),
        file_member("/etc/cron.d/evil", b"x"),
        file_member("C:/evil", b"x"),
        file_member("dir\\..\\evil", b"x"),
        _link("current", "/etc", tarfile.SYMTYPE),
        _link("passwd", "/etc/passwd", tarfile.LNKTYPE),
        _special("dev", tarfile.CHRTYPE),
        _special("fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "inner-dotdot", "absolute", "drive", "backslash", "symlink", "hardlink", "device", "fifo"],
)
def test_members_outside_the_release_or_not_plain_files_are_refused(keys: Keys, member) -> None:
    payload = tar_gz([file_member("README.md", b"ok"), member])
    assert reason(make_package(keys, payload=payload), keys) == "unsafe_member"


def test_a_file_twice_is_refused(keys: Keys) -> None:
    payload = tar_gz([file_member("a.py", b"1"), file_member("a.py", b"2")])
    assert reason(make_package(keys, payload=payload), keys) == "unsafe_member"


def test_an_empty_archive_is_refused(keys: Keys) -> None:
    assert reason(make_package(keys, payload=tar_gz([])), keys) == "broken_archive"


def test_extract_writes_files_with_their_modes(keys: Keys, tmp_path: Path) -> None:
    data = make_package(keys, "0.2.0")
    stream = io.BytesIO(data)
    public = package.load_public_key(keys.public_path.read_bytes())
    manifest = package.read_manifest(stream, public)
    assert package.extract(stream, manifest, tmp_path) == 3
    assert (tmp_path / "updates" / "version.py").read_text() == 'VERSION = "0.2.0"\n'
    assert (tmp_path / "manage.py").stat().st_mode & 0o111
    assert not (tmp_path / "README.md").stat().st_mode & 0o111


@pytest.fixture(scope="module")
def signed() -> tuple[bytes, bytes]:
    """A good package and the public key it is signed for (module-wide: hypothesis reuses it)."""
    private_pem, public_pem = package.new_key_pair()
    private = package.load_private_key(private_pem)
    return package.build(release_payload("0.2.0"), "0.2.0", 1, private), public_pem


@given(position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_is_refused_with_a_reason(signed: tuple[bytes, bytes], position: int, bit: int) -> None:
    good, public_pem = signed
    data = bytearray(good)
    data[position % len(data)] ^= 1 << bit
    with pytest.raises(package.PackageError):
        package.inspect(io.BytesIO(bytes(data)), package.load_public_key(public_pem), "0.1.0", None, 1)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_with_a_reason_never_a_crash(signed: tuple[bytes, bytes], data: bytes) -> None:
    public = package.load_public_key(signed[1])
    for candidate in (data, package.MAGIC + data):
        with pytest.raises(package.PackageError):
            package.inspect(io.BytesIO(candidate), public, "0.1.0", None, 1)
