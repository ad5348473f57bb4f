"""A device outage, as the worker's real cycle sees it, sends one mail to a local SMTP server
(aiosmtpd on loopback), not one per second; the mail is sent by the Celery task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from events.models import DEVICE_OFFLINE, MAIL_SENT, Event
from events.tests.conftest import dead_port, mail_to
from events.tests.smtp_server import SmtpServer
from meter.models import Meter
from plant import worker
from plant.models import Plant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plant_with_dead_meter(db: None) -> Iterator[Plant]:
    plant = Plant.objects.create(name="Cabin")
    Meter.objects.create(plant=plant, host="127.0.0.1", port=dead_port(), timeout_s=0.2)
    yield plant
    worker.shutdown_runtimes()


@pytest.mark.usefixtures("eager_celery")
def test_a_device_outage_sends_one_mail_not_one_per_second(plant_with_dead_meter: Plant, smtp: SmtpServer) -> None:
    mail_to(smtp, kinds=[DEVICE_OFFLINE])
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for second in range(90):  # a minute and a half of cycles with the meter not answering
        state = worker.run_plant_cycle(plant_with_dead_meter.pk, now=t0 + dt.timedelta(seconds=second))
        assert not state.meter_status.online

    assert len(smtp.inbox) == 1
    received = smtp.inbox[0]
    assert received.sender == "ksem@example.org"
    assert received.recipients == ["owner@example.org"]
    assert str(received.message["Subject"]).strip().startswith("[KSEM Cabin] device offline: meter offline")
    assert "Cabin" in received.message.get_content()
    assert smtp.logins == [("mailer", "Mail-Pass-7")]
    event = Event.objects.get(kind=DEVICE_OFFLINE)
    assert event.plant_id == plant_with_dead_meter.pk
    assert event.mail_state == MAIL_SENT
    assert event.time == t0


@pytest.mark.usefixtures("eager_celery")
def test_an_outage_of_a_class_not_chosen_is_logged_but_not_mailed(
    plant_with_dead_meter: Plant, smtp: SmtpServer
) -> None:
    mail_to(smtp, kinds=["grid_limit_received"])
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for second in range(5):
        worker.run_plant_cycle(plant_with_dead_meter.pk, now=t0 + dt.timedelta(seconds=second))
    assert smtp.inbox == []
    assert Event.objects.filter(kind=DEVICE_OFFLINE, mail_state="").count() == 1


def test_the_mail_is_in_the_installations_language_whatever_page_the_thread_served_last(
    plant_with_dead_meter: Plant,
) -> None:
    from django.utils import translation

    from events.tasks import subject_and_body

    event = Event.objects.create(
        plant=plant_with_dead_meter, kind=DEVICE_OFFLINE, severity="warning", source="meter",
        message="meter offline", time=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    with translation.override("de"):  # a German page was the thread's last request
        subject, body = subject_and_body(event)
    assert subject.startswith("[KSEM Cabin] device offline: meter offline"), subject
    assert "Severity" in body and "Schweregrad" not in body
