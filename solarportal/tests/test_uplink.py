"""The whole path on loopback: the device's outbox and delivery against the real receiving endpoint
(this project's application served on 127.0.0.1). Time is stepped, never waited for."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from meter.models import MeterLog
from plant.models import Plant
from solarportal import report as r
from solarportal import services
from solarportal.models import OutboxReport, ReceivedReport
from solarportal.tests.conftest import CREDENTIAL, Receiver, register, write_log
from tests.stack import free_port

pytestmark = pytest.mark.django_db(transaction=True)
MINUTE = dt.timedelta(minutes=1)


def _switch_on(plant: Plant, url: str, at: dt.datetime, credential: str = CREDENTIAL) -> None:
    services.save_settings(plant, enabled=True, endpoint_url=url, credential=credential, now=at)


def _run(plant: Plant, start: dt.datetime, end: dt.datetime, step: dt.timedelta = MINUTE) -> dt.datetime:
    """The beat (every minute) and the deliveries it triggers, from ``start`` to ``end`` on a stepped clock."""
    now = start
    while now <= end:
        services.queue_reports(now)
        if plant.pk in services.plants_due(now):
            services.deliver(plant.pk, now)
        now += step
    return now


def _received_ids(plant: Plant) -> list[str]:
    return list(
        ReceivedReport.objects.filter(portal_plant__serial_number=plant.serial_number)
        .order_by("pk")
        .values_list("report_id", flat=True)
    )


def test_two_hours_down_then_all_8_reports_arrive_once_in_order(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=6)
    write_log(plant, t0, t0 + dt.timedelta(hours=3))
    register(plant)
    _switch_on(plant, portal_receiver.url, t0)
    portal_receiver.mode = "down"

    now = _run(plant, t0, t0 + dt.timedelta(hours=2, minutes=2))
    assert _received_ids(plant) == []
    pending = list(OutboxReport.objects.filter(plant=plant, sent_at__isnull=True).order_by("interval_start"))
    assert len(pending) == 8
    # Only the oldest was tried (its backoff grew); the later ones wait behind it.
    assert pending[0].attempts >= 5 and "HTTP 503" in pending[0].last_error
    assert all(p.attempts == 0 for p in pending[1:])
    tries_while_down = portal_receiver.requests
    assert tries_while_down < 15  # backoff, not a request a minute

    portal_receiver.mode = "up"
    _run(plant, now, now + dt.timedelta(minutes=16))

    expected = [r.report_id(plant.serial_number, t0 + n * r.INTERVAL) for n in range(8)]
    assert _received_ids(plant)[:8] == expected
    assert len(set(_received_ids(plant))) == len(_received_ids(plant))
    assert not OutboxReport.objects.filter(plant=plant, interval_start__lt=t0 + 8 * r.INTERVAL, sent_at__isnull=True)
    first = ReceivedReport.objects.get(report_id=expected[0])
    assert first.entries == 3 and first.import_wh == pytest.approx(250.0) and first.pv_wh == pytest.approx(500.0)
    status = services.status(plant)
    assert status["machine_id"] == first.portal_plant.machine_id
    assert status["last_request"] is not None and status["last_response"] is not None


def test_a_lost_acknowledgement_is_resent_and_stored_once(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + dt.timedelta(minutes=30))
    register(plant)
    _switch_on(plant, portal_receiver.url, t0)
    portal_receiver.mode = "ack-lost"
    now = _run(plant, t0, t0 + r.INTERVAL + services.GRACE)
    item = OutboxReport.objects.get(plant=plant)
    assert item.sent_at is None and "HTTP 502" in item.last_error
    assert _received_ids(plant) == [item.report_id]  # the portal has it, the device does not know

    portal_receiver.mode = "up"
    _run(plant, now, now + dt.timedelta(minutes=2))
    item.refresh_from_db()
    assert item.sent_at is not None
    assert _received_ids(plant) == [item.report_id]
    assert "duplicate" in services.uplink_of(plant).last_response


def test_a_report_sent_twice_is_stored_once(plant: Plant, portal_receiver: Receiver) -> None:
    register(plant)
    start = r.interval_start(timezone.now()) - dt.timedelta(hours=1)
    write_log(plant, start, start + r.INTERVAL)
    report = services.build_report(plant, start)
    body = r.to_xml(report)
    first = services.post_report(portal_receiver.url, plant.serial_number, CREDENTIAL, body, report.report_id)
    second = services.post_report(portal_receiver.url, plant.serial_number, CREDENTIAL, body, report.report_id)
    assert (first.ok, first.text) == (True, "stored")
    assert (second.ok, second.text) == (True, "duplicate")
    assert _received_ids(plant) == [report.report_id]


@pytest.mark.parametrize(
    ("credential", "body", "status", "message"),
    [
        ("a-wrong-credential-000000", None, 401, "signature does not match"),
        (CREDENTIAL, b"<report>", 400, "invalid report: not well-formed XML"),
        (CREDENTIAL, b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>', 400, "DTDs and entities"),
        (CREDENTIAL, b"<report xmlns='urn:other'/>", 400, "root element must be <report>"),
    ],
)
def test_bad_requests_are_refused_with_the_reason_and_store_nothing(
    plant: Plant, portal_receiver: Receiver, credential: str, body: bytes | None, status: int, message: str
) -> None:
    register(plant)
    start = r.interval_start(timezone.now()) - dt.timedelta(hours=1)
    report = services.build_report(plant, start)
    body = body if body is not None else r.to_xml(report)
    answer = services.post_report(portal_receiver.url, plant.serial_number, credential, body, report.report_id)
    assert not answer.ok
    assert answer.status == status and message in answer.text
    assert ReceivedReport.objects.count() == 0


def test_an_unregistered_serial_is_refused(plant: Plant, portal_receiver: Receiver) -> None:
    start = r.interval_start(timezone.now()) - dt.timedelta(hours=1)
    report = services.build_report(plant, start)
    answer = services.post_report(
        portal_receiver.url, plant.serial_number, CREDENTIAL, r.to_xml(report), report.report_id
    )
    assert answer.status == 401 and "is not registered" in answer.text
    assert ReceivedReport.objects.count() == 0


def test_a_report_of_another_plant_under_this_plants_signature_is_refused(
    plant: Plant, portal_receiver: Receiver
) -> None:
    other = Plant.objects.create(name="Other")
    register(plant)
    register(other, "other-credential-0123456789")
    start = r.interval_start(timezone.now()) - dt.timedelta(hours=1)
    report = services.build_report(other, start)
    answer = services.post_report(
        portal_receiver.url, plant.serial_number, CREDENTIAL, r.to_xml(report), report.report_id
    )
    assert answer.status == 400 and f"it is from {other.serial_number}" in answer.text
    assert ReceivedReport.objects.count() == 0


def test_a_200_that_is_no_acknowledgement_does_not_count_as_delivered(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + r.INTERVAL)
    # A captive portal or a mistyped endpoint answers 200 with a web page: it must not swallow reports.
    portal_receiver.mode = "captive"
    _switch_on(plant, portal_receiver.url, t0)
    _run(plant, t0, t0 + r.INTERVAL + services.GRACE)
    item = OutboxReport.objects.get(plant=plant)
    assert item.sent_at is None and "no acknowledgement" in item.last_error


def test_nothing_listening_is_kept_and_retried_with_growing_waits(plant: Plant) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + r.INTERVAL)
    _switch_on(plant, f"http://127.0.0.1:{free_port()}/solarportal/receive/", t0)
    now = t0 + r.INTERVAL + services.GRACE
    services.queue_reports(now)
    waits = []
    for _ in range(4):
        services.deliver(plant.pk, now)
        item = OutboxReport.objects.get(plant=plant)
        waits.append((item.next_attempt_at - now).total_seconds())
        now = item.next_attempt_at
    assert waits == [30.0, 60.0, 120.0, 240.0]
    assert "no answer from the portal" in item.last_error
    assert services.status(plant)["last_response"] is None  # nothing ever answered


def test_switched_off_nothing_is_queued_or_sent(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + dt.timedelta(hours=1))
    register(plant)
    _switch_on(plant, portal_receiver.url, t0)
    services.save_settings(plant, enabled=False, endpoint_url=portal_receiver.url, credential=None, now=t0)
    _run(plant, t0, t0 + dt.timedelta(hours=1))
    assert OutboxReport.objects.count() == 0 and portal_receiver.requests == 0


def test_a_clock_before_the_build_date_queues_nothing_and_warns(plant: Plant) -> None:
    wrong = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    _switch_on(plant, "https://portal.example.com/receive/", wrong)
    assert services.queue_reports(wrong + dt.timedelta(hours=3)) == 0
    warnings = services.clock_warnings(plant, services.uplink_of(plant), wrong)
    assert any("before this software was built" in w for w in warnings)


def test_log_timestamps_in_the_future_are_warned_about(plant: Plant) -> None:
    now = timezone.now()
    MeterLog.objects.create(plant=plant, start=now + dt.timedelta(hours=1), samples=300, grid_power_w=1.0)
    warnings = services.status(plant, now)["warnings"]
    assert any("in the future" in w for w in warnings)


def test_a_utc_time_zone_and_a_far_off_portal_clock_are_warned_about(plant: Plant) -> None:
    plant.time_zone = "UTC"
    plant.save()
    row = services.uplink_of(plant)
    row.clock_offset_s = -3600.0
    row.save()
    warnings = services.status(plant)["warnings"]
    assert any("time zone is UTC" in w for w in warnings)
    assert any("differs from this device's by -60 minutes" in w for w in warnings)


def test_the_portal_clock_is_taken_from_its_answer(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + r.INTERVAL)
    register(plant)
    _switch_on(plant, portal_receiver.url, t0)
    _run(plant, t0, t0 + r.INTERVAL + services.GRACE)
    row = services.uplink_of(plant)
    assert row.clock_offset_s is not None and abs(row.clock_offset_s) < 5
    assert services.status(plant)["warnings"] == []


def test_gaps_in_the_log_are_reported_as_gaps(plant: Plant, portal_receiver: Receiver) -> None:
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + r.INTERVAL, gaps=[t0 + dt.timedelta(minutes=5)])
    register(plant)
    _switch_on(plant, portal_receiver.url, t0)
    _run(plant, t0, t0 + r.INTERVAL + services.GRACE)
    received = ReceivedReport.objects.get()
    assert (received.entries, received.gaps) == (3, 1)
    assert received.pv_wh == pytest.approx(2000.0 * 2 * 5 / 60)
