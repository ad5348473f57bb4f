"""The XML report's shape: what the device writes parses back to the same report, and each way of
breaking it is refused with a message that names the problem. Plus the pure rules around it:
interval starts, report ids, backoff, which endpoint URLs are accepted."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solarportal import report as r
from solarportal import services

START = dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.UTC)


def sample(**changes: object) -> r.Report:
    base = r.Report(
        serial="KSEM-0123456789",
        article="EMG2-0001",
        machine_id="A1B2C3",
        time_zone="Europe/Berlin",
        start=START,
        counters={"active_import_wh": (1000.0, 1250.0), "active_export_wh": (10.0, None)},
        entries=(
            r.LogEntry(START, 300, False, {"grid_power_w": 1000.0, "pv_power_w": 2000.0}),
            r.LogEntry(START + dt.timedelta(minutes=5), 0, True, {}),
            r.LogEntry(START + dt.timedelta(minutes=10), 299, False, {"grid_power_w": -12.5}),
        ),
    )
    return r.Report(**{**base.__dict__, **changes})


def test_the_document_has_the_documented_shape() -> None:
    text = r.to_xml(sample()).decode()
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>\n<report xmlns=\"urn:ksem:solarportal:report:1\"")
    assert 'id="KSEM-0123456789-20261206T2100Z"' in text
    assert '<device serial="KSEM-0123456789" article="EMG2-0001" machineId="A1B2C3" />' in text
    assert '<interval start="2026-12-06T21:00:00Z" end="2026-12-06T21:15:00Z" timeZone="Europe/Berlin" />' in text
    assert '<counter name="active_import_wh" start="1000.0" end="1250.0" />' in text
    assert '<counter name="active_export_wh" start="10.0" />' in text
    assert '<entry start="2026-12-06T21:05:00Z" samples="0" gap="true" />' in text
    assert '<value name="grid_power_w">1000.0</value><value name="pv_power_w">2000.0</value>' in text
    assert 2_000 // 4 < len(text) < r.MAX_BYTES


def test_a_full_report_stays_in_the_manuals_size_range() -> None:
    values = {name: 12345.678 for name in r.VALUE_NAMES}
    full = sample(
        entries=tuple(r.LogEntry(START + n * r.LOG_STEP, 300, False, values) for n in range(3)),
        counters={name: (1e6, 1e6 + 1) for name in r.COUNTER_NAMES},
    )
    assert 2_000 <= len(r.to_xml(full)) <= 50_000


def test_round_trip() -> None:
    assert r.parse(r.to_xml(sample())) == sample()


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda v: round(v, 6))


@given(
    values=st.lists(st.dictionaries(st.sampled_from(r.VALUE_NAMES), finite, max_size=5), min_size=0, max_size=3),
    quarter=st.integers(min_value=0, max_value=10_000),
)
def test_any_report_the_device_builds_parses_back_unchanged(values: list[dict[str, float]], quarter: int) -> None:
    start = START + quarter * r.INTERVAL
    entries = tuple(r.LogEntry(start + n * r.LOG_STEP, 300, False, v) for n, v in enumerate(values))
    built = sample(start=start, entries=entries, counters={})
    assert r.parse(r.to_xml(built)) == built


GOOD = r.to_xml(sample()).decode()


def broken(old: str, new: str) -> bytes:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not well-formed XML"),
        (b"not xml", "not well-formed XML"),
        (GOOD[:-20].encode(), "not well-formed XML"),
        (b"<report/>", "root element must be <report>"),
        (broken('format="1"', 'format="2"'), "format '2' is not supported"),
        (broken('format="1"', 'format="1" extra="x"'), "unknown attribute 'extra'"),
        (broken('id="KSEM-0123456789-20261206T2100Z"', 'id="KSEM-0123456789-20261206T2115Z"'), "report id"),
        (broken('serial="KSEM-0123456789"', 'serial="ksem 1"'), "serial number 'ksem 1'"),
        (broken('start="2026-12-06T21:00:00Z" end', 'start="2026-12-06T21:01:00Z" end'), "not on a quarter hour"),
        (broken('end="2026-12-06T21:15:00Z"', 'end="2026-12-06T21:30:00Z"'), "end must be start + 15 min"),
        (broken('start="2026-12-06T21:00:00Z" end', 'start="2026-12-06 21:00" end'), "not a UTC time"),
        (broken('start="2026-12-06T21:00:00Z" end', 'start="2026-13-06T21:00:00Z" end'), "not a valid time"),
        (broken('timeZone="Europe/Berlin"', 'timeZone="Mars/Olympus"'), "time zone 'Mars/Olympus' is not known"),
        (broken('end="1250.0"', 'end="900.0"'), "counter active_import_wh runs backwards"),
        (broken('name="active_import_wh"', 'name="stolen_wh"'), "unknown counter 'stolen_wh'"),
        (broken('name="active_export_wh"', 'name="active_import_wh"'), "appears twice"),
        (broken(">1000.0</value>", ">NaN</value>"), "not a finite number"),
        (broken(">1000.0</value>", ">1e400</value>"), "not a finite number"),
        (broken(">1000.0</value>", ">lots</value>"), "'lots' is not a number"),
        (broken('name="pv_power_w"', 'name="grid_power_w"'), "value 'grid_power_w' appears twice"),
        (broken('name="pv_power_w"', 'name="secret_w"'), "unknown value 'secret_w'"),
        (broken('samples="300"', 'samples="-1"'), "samples '-1' is not a count"),
        (broken('gap="true"', 'gap="yes"'), "gap 'yes' must be true or false"),
        (broken('gap="true" />', 'gap="true"><value name="pv_power_w">1</value></entry>'), "gap has no values"),
        (broken('start="2026-12-06T21:05:00Z"', 'start="2026-12-06T21:15:00Z"'), "not a 5-minute step inside"),
        (broken('start="2026-12-06T21:05:00Z"', 'start="2026-12-06T21:00:00Z"'), "in time order"),
        (broken('<log minutes="5">', '<log minutes="1">'), "<log minutes> must be 5"),
        (broken("<counters>", "<counters>text"), "<counters> must not contain text"),
        (broken("<counters>", "<log minutes='5' /><counters>"), "in this order"),
        (broken("</log>", "<entry start='2026-12-06T21:10:00Z' samples='1' gap='false'/></log>"), "0 to 3 <entry>"),
        (GOOD.encode() + b"<!-- -->" + b" " * r.MAX_BYTES, "larger than 64 KB"),
        (GOOD.encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_broken_report_is_refused_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(r.ReportError) as refused:
        r.parse(body)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "body",
    [
        # An entity bomb: refused at the DTD, before any expansion.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<report>&lol2;</report>",
        # An external entity that would read a local file.
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><report>&x;</report>',
        b'<?xml version="1.0"?><!DOCTYPE report SYSTEM "http://127.0.0.1:1/x.dtd"><report/>',
    ],
)
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(r.ReportError, match="DTDs and entities are not allowed"):
        r.parse(body)


@pytest.mark.parametrize(
    ("moment", "start"),
    [
        ("2026-12-06T21:00:00+00:00", "2026-12-06T21:00:00+00:00"),
        ("2026-12-06T21:14:59.999+00:00", "2026-12-06T21:00:00+00:00"),
        ("2026-12-06T21:15:00+00:00", "2026-12-06T21:15:00+00:00"),
        ("2026-12-06T23:50:00+01:00", "2026-12-06T22:45:00+00:00"),  # local time in, UTC out
        ("2026-12-06T05:40:00+05:30", "2026-12-06T00:00:00+00:00"),  # a half-hour zone
    ],
)
def test_interval_start(moment: str, start: str) -> None:
    assert r.interval_start(dt.datetime.fromisoformat(moment)) == dt.datetime.fromisoformat(start)


def test_report_id_is_serial_and_utc_start() -> None:
    local = dt.datetime(2026, 12, 6, 22, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert r.report_id("KSEM-1", local) == "KSEM-1-20261206T2100Z"


@pytest.mark.parametrize(
    ("attempts", "wait"), [(0, 0.0), (1, 30.0), (2, 60.0), (3, 120.0), (5, 480.0), (6, 900.0), (50, 900.0)]
)
def test_backoff(attempts: int, wait: float) -> None:
    assert services.backoff_s(attempts) == wait


@pytest.mark.parametrize(
    ("url", "production", "problem"),
    [
        ("https://portal.example.com/solarportal/receive/", False, None),
        ("https://portal.example.com:8443/r", True, None),
        ("http://127.0.0.1:8000/solarportal/receive/", False, None),
        ("http://[::1]:8000/r", False, None),
        ("http://localhost/r", False, None),
        ("", False, None),
        ("http://127.0.0.1:8000/r", True, "HTTPS only"),
        ("http://portal.example.com/r", False, "only to this machine"),
        ("ftp://portal.example.com/r", False, "must start with https://"),
        ("portal.example.com", False, "must start with https://"),
        ("https://", False, "needs a host"),
        ("https://user:pw@portal.example.com/", False, "no user or password"),
        ("https://portal.example.com:99999/", False, "port in the URL is not valid"),
        ("https://portal.example.com/" + "a" * 500, False, "longer than 500"),
    ],
)
def test_endpoint_urls(url: str, production: bool, problem: str | None, settings: object) -> None:
    settings.PRODUCTION = production  # type: ignore[attr-defined]
    if problem is None:
        assert services.check_endpoint(url) == url
    else:
        with pytest.raises(ValueError, match=problem):
            services.check_endpoint(url)


def test_an_acknowledgement_is_only_the_portals() -> None:
    ack = r.parse_ack(r.ack_xml("KSEM-1-20261206T2100Z", r.ACK_STORED, "ABC123"))
    assert ack == r.Ack("KSEM-1-20261206T2100Z", "stored", "ABC123")
    assert r.parse_ack(b"<html><body>OK</body></html>") is None
    assert r.parse_ack(b"OK") is None
    assert r.parse_ack(r.ack_xml("x", "maybe", "ABC")) is None
