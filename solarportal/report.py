"""The XML report of one 15-minute interval (our own format, docs/solarportal.md): build and strict parse.

No Django here: the device builds a ``Report`` from its log tables and calls ``to_xml``; the portal
calls ``parse`` on what arrives, which refuses anything that is not exactly this format with a
``ReportError`` that names the problem. Parsing uses defusedxml with DTDs, entities and external
references forbidden, so an entity bomb or an external entity is refused before it is expanded.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

NAMESPACE = "urn:ksem:solarportal:report:1"
FORMAT = "1"
INTERVAL = dt.timedelta(minutes=15)
LOG_STEP = dt.timedelta(minutes=5)
MAX_BYTES = 64 * 1024  # the manual's reports are 2 .. 50 kB; ours are about 3 kB
_NS = "{" + NAMESPACE + "}"
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_SERIAL = re.compile(r"^[A-Z0-9-]{4,32}$")
_TEXT = re.compile(r"^[A-Za-z0-9 ._/-]{0,64}$")

# The 5-minute log's values (meter.MeterLog) and the energy counters (meter.EnergyRecord).
VALUE_NAMES = (
    "grid_power_w", "grid_power_min_w", "grid_power_max_w", "reactive_power_var", "apparent_power_va",
    "frequency_hz", "power_l1_w", "power_l2_w", "power_l3_w", "voltage_l1_v", "voltage_l2_v", "voltage_l3_v",
    "current_l1_a", "current_l2_a", "current_l3_a", "pv_power_w", "battery_power_w", "battery_soc_pct",
    "house_power_w", "wallbox_power_w",
)  # fmt: skip
COUNTER_NAMES = (
    "active_import_wh", "active_export_wh", "reactive_import_varh", "reactive_export_varh",
    "apparent_import_vah", "apparent_export_vah",
)  # fmt: skip


class ReportError(ValueError):
    """The body is not a valid report; the message says why."""


@dataclass(frozen=True)
class LogEntry:
    start: dt.datetime
    samples: int
    gap: bool
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    serial: str
    article: str
    machine_id: str
    time_zone: str
    start: dt.datetime
    counters: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    entries: tuple[LogEntry, ...] = ()

    @property
    def end(self) -> dt.datetime:
        return self.start + INTERVAL

    @property
    def report_id(self) -> str:
        return report_id(self.serial, self.start)

    def energy_wh(self, name: str) -> float | None:
        """A counter's growth over the interval, None if either end is unknown."""
        begin, end = self.counters.get(name, (None, None))
        return None if begin is None or end is None else end - begin

    def pv_wh(self) -> float | None:
        """PV energy from the 5-minute averages (None when no entry has a PV value)."""
        values = [e.values["pv_power_w"] for e in self.entries if "pv_power_w" in e.values]
        return sum(v * LOG_STEP.total_seconds() / 3600 for v in values) if values else None


def report_id(serial: str, start: dt.datetime) -> str:
    """The idempotent id: serial number and interval start (UTC), e.g. ``KSEM-0123456789-20261206T2100Z``."""
    return f"{serial}-{start.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def interval_start(moment: dt.datetime) -> dt.datetime:
    """The start of the 15-minute interval (UTC) ``moment`` lies in."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float) -> str:
    return repr(round(float(value), 6))


def to_xml(report: Report) -> bytes:
    root = Element("report", {"xmlns": NAMESPACE, "format": FORMAT, "id": report.report_id})
    SubElement(root, "device", {"serial": report.serial, "article": report.article, "machineId": report.machine_id})
    SubElement(
        root,
        "interval",
        {"start": _time(report.start), "end": _time(report.end), "timeZone": report.time_zone},
    )
    counters = SubElement(root, "counters")
    for name in COUNTER_NAMES:
        if name not in report.counters:
            continue
        begin, end = report.counters[name]
        attributes = {"name": name}
        if begin is not None:
            attributes["start"] = _number(begin)
        if end is not None:
            attributes["end"] = _number(end)
        SubElement(counters, "counter", attributes)
    log = SubElement(root, "log", {"minutes": "5"})
    for entry in report.entries:
        item = SubElement(
            log,
            "entry",
            {"start": _time(entry.start), "samples": str(entry.samples), "gap": "true" if entry.gap else "false"},
        )
        for name in VALUE_NAMES:
            if name in entry.values:
                SubElement(item, "value", {"name": name}).text = _number(entry.values[name])
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + tostring(root, encoding="utf-8", xml_declaration=False)


# ---- parsing -----------------------------------------------------------------------------------


def _attributes(element: Element, required: set[str], optional: frozenset[str] = frozenset()) -> dict[str, str]:
    tag = element.tag.removeprefix(_NS)
    names = set(element.attrib)
    missing = required - names
    if missing:
        raise ReportError(f"<{tag}> lacks the attribute {sorted(missing)[0]!r}")
    unknown = names - required - optional
    if unknown:
        raise ReportError(f"<{tag}> has an unknown attribute {sorted(unknown)[0]!r}")
    if (element.text or "").strip() and tag != "value":
        raise ReportError(f"<{tag}> must not contain text")
    return dict(element.attrib)


def _children(element: Element, tag: str, low: int, high: int) -> list[Element]:
    children = list(element)
    for child in children:
        if child.tag != _NS + tag:
            raise ReportError(
                f"<{element.tag.removeprefix(_NS)}> may only contain <{tag}>, not <{child.tag.removeprefix(_NS)}>"
            )
        if (child.tail or "").strip():
            raise ReportError(f"text after <{tag}>")
    if not low <= len(children) <= high:
        raise ReportError(
            f"<{element.tag.removeprefix(_NS)}> needs {low} to {high} <{tag}> elements, not {len(children)}"
        )
    return children


def _parse_time(raw: str, what: str) -> dt.datetime:
    if not _TIME.match(raw):
        raise ReportError(f"{what} {raw!r} is not a UTC time like 2026-12-06T21:00:00Z")
    try:
        return dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ReportError(f"{what} {raw!r} is not a valid time") from None


def _parse_float(raw: str, what: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ReportError(f"{what} {raw!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > 1e15:
        raise ReportError(f"{what} {raw!r} is not a finite number")
    return value


def parse(body: bytes) -> Report:
    """The report in ``body``, or ``ReportError`` naming what is wrong. Nothing partial is returned."""
    if len(body) > MAX_BYTES:
        raise ReportError(f"the report is larger than {MAX_BYTES // 1024} KB")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError("the report is not UTF-8") from None
    try:
        root = safe_et.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ReportError(f"DTDs and entities are not allowed ({exc.__class__.__name__})") from None
    except safe_et.ParseError as exc:
        raise ReportError(f"not well-formed XML ({exc})") from None
    if root.tag != _NS + "report":
        raise ReportError(f"the root element must be <report> in the namespace {NAMESPACE}")
    head = _attributes(root, {"format", "id"})
    if head["format"] != FORMAT:
        raise ReportError(f"format {head['format']!r} is not supported (only {FORMAT})")
    parts = list(root)
    tags = [p.tag.removeprefix(_NS) for p in parts]
    if tags != ["device", "interval", "counters", "log"]:
        raise ReportError(f"<report> must contain <device>, <interval>, <counters>, <log> in this order, not {tags}")
    for part in parts:
        if (part.tail or "").strip():
            raise ReportError("text between the elements of <report>")
    device_el, interval_el, counters_el, log_el = parts

    device = _attributes(device_el, {"serial", "article", "machineId"})
    if list(device_el):
        raise ReportError("<device> must be empty")
    serial = device["serial"]
    if not _SERIAL.match(serial):
        raise ReportError(f"serial number {serial!r} is not 4-32 capital letters, digits and '-'")
    for name in ("article", "machineId"):
        if not _TEXT.match(device[name]):
            raise ReportError(f"{name} {device[name]!r} has characters that are not allowed or is too long")

    interval = _attributes(interval_el, {"start", "end", "timeZone"})
    if list(interval_el):
        raise ReportError("<interval> must be empty")
    start = _parse_time(interval["start"], "interval start")
    end = _parse_time(interval["end"], "interval end")
    if start != interval_start(start):
        raise ReportError(f"interval start {interval['start']} is not on a quarter hour")
    if end - start != INTERVAL:
        raise ReportError("an interval is 15 minutes: end must be start + 15 min")
    if interval["timeZone"] not in zoneinfo.available_timezones():
        raise ReportError(f"time zone {interval['timeZone']!r} is not known")
    if head["id"] != report_id(serial, start):
        raise ReportError(f"report id {head['id']!r} must be {report_id(serial, start)!r} (serial and interval start)")

    _attributes(counters_el, set())
    counters: dict[str, tuple[float | None, float | None]] = {}
    for element in _children(counters_el, "counter", 0, len(COUNTER_NAMES)):
        attributes = _attributes(element, {"name"}, frozenset({"start", "end"}))
        if list(element):
            raise ReportError("<counter> must be empty")
        name = attributes["name"]
        if name not in COUNTER_NAMES:
            raise ReportError(f"unknown counter {name!r}")
        if name in counters:
            raise ReportError(f"counter {name!r} appears twice")
        begin = _parse_float(attributes["start"], f"counter {name} start") if "start" in attributes else None
        stop = _parse_float(attributes["end"], f"counter {name} end") if "end" in attributes else None
        if begin is not None and stop is not None and stop < begin:
            raise ReportError(f"counter {name} runs backwards ({begin} to {stop})")
        counters[name] = (begin, stop)

    if _attributes(log_el, {"minutes"})["minutes"] != "5":
        raise ReportError("<log minutes> must be 5")
    entries: list[LogEntry] = []
    for element in _children(log_el, "entry", 0, 3):
        attributes = _attributes(element, {"start", "samples", "gap"})
        entry_start = _parse_time(attributes["start"], "entry start")
        if not start <= entry_start < end or (entry_start - start) % LOG_STEP:
            raise ReportError(f"entry start {attributes['start']} is not a 5-minute step inside the interval")
        if entries and entry_start <= entries[-1].start:
            raise ReportError("log entries must be in time order, each once")
        if not attributes["samples"].isdigit() or int(attributes["samples"]) > 100_000:
            raise ReportError(f"samples {attributes['samples']!r} is not a count")
        if attributes["gap"] not in ("true", "false"):
            raise ReportError(f"gap {attributes['gap']!r} must be true or false")
        gap = attributes["gap"] == "true"
        values: dict[str, float] = {}
        for value_el in _children(element, "value", 0, len(VALUE_NAMES)):
            name = _attributes(value_el, {"name"})["name"]
            if list(value_el):
                raise ReportError("<value> must contain a number only")
            if name not in VALUE_NAMES:
                raise ReportError(f"unknown value {name!r}")
            if name in values:
                raise ReportError(f"value {name!r} appears twice in one entry")
            values[name] = _parse_float(value_el.text or "", f"value {name}")
        if gap and values:
            raise ReportError("an entry marked as gap has no values")
        entries.append(LogEntry(entry_start, int(attributes["samples"]), gap, values))

    return Report(
        serial=serial,
        article=device["article"],
        machine_id=device["machineId"],
        time_zone=interval["timeZone"],
        start=start,
        counters=counters,
        entries=tuple(entries),
    )


# ---- the portal's acknowledgement ----------------------------------------------------------------

ACK_STORED = "stored"
ACK_DUPLICATE = "duplicate"


def ack_xml(report_id_: str, outcome: str, machine_id: str) -> bytes:
    root = Element("ack", {"xmlns": NAMESPACE, "reportId": report_id_, "status": outcome, "machineId": machine_id})
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + tostring(root, encoding="utf-8", xml_declaration=False)


@dataclass(frozen=True)
class Ack:
    report_id: str
    status: str
    machine_id: str


def parse_ack(body: bytes) -> Ack | None:
    """The portal's acknowledgement, None if the answer is none (a web page, a proxy's answer)."""
    try:
        root = safe_et.fromstring(body[:MAX_BYTES], forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, safe_et.ParseError):
        return None
    if root.tag != _NS + "ack":
        return None
    machine_id = root.attrib.get("machineId", "")
    outcome = root.attrib.get("status", "")
    if outcome not in (ACK_STORED, ACK_DUPLICATE) or not _TEXT.match(machine_id):
        return None
    return Ack(root.attrib.get("reportId", ""), outcome, machine_id)
