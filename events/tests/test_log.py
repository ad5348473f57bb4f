"""The event log: recording (once per key, bounded), the producers that feed it (grid limits,
login lock-outs, backups), who sees which events (page, API, dashboard), filters and pages, and
the mail's rate limit and retries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from energy import gridlimit as g
from events import services
from events.models import (
    BACKUP_RESULT,
    DEVICE_OFFLINE,
    ERROR,
    GRID_LIMIT_ENDED,
    GRID_LIMIT_RECEIVED,
    INFO,
    LOGIN_LOCKOUT,
    MAIL_FAILED,
    MAIL_RATE_LIMITED,
    MAIL_SENT,
    WARNING,
    Event,
)
from events.tests.conftest import dead_port, mail_to, person
from events.tests.smtp_server import SmtpServer
from plant.models import Plant
from portal.models import Membership

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_an_occurrence_is_recorded_once_by_its_key(plant: Plant) -> None:
    first = services.record(DEVICE_OFFLINE, "meter offline", plant=plant, key="offline:1:meter:t0")
    again = services.record(DEVICE_OFFLINE, "meter offline", plant=plant.pk, key="offline:1:meter:t0")
    assert first is not None and again is None
    assert Event.objects.count() == 1


def test_unknown_classes_and_severities_are_not_recorded(db: None) -> None:
    assert services.record("coffee_empty", "no coffee") is None
    assert services.record(DEVICE_OFFLINE, "x", severity="panic") is None
    assert Event.objects.count() == 0


def test_retention_keeps_the_newest_and_nothing_older_than_a_year(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "MAX_EVENTS", 5)
    now = timezone.now()
    services.record(BACKUP_RESULT, "ancient", at=now - dt.timedelta(days=400))
    for n in range(8):
        services.record(BACKUP_RESULT, f"backup {n}", at=now - dt.timedelta(minutes=10 - n))
    assert services.prune(now) == 4
    assert list(Event.objects.order_by("time").values_list("message", flat=True)) == [
        f"backup {n}" for n in range(3, 8)
    ]


# Producers ------------------------------------------------------------------------------------


def test_a_grid_limit_received_and_ended_are_events(plant: Plant) -> None:
    from smartgrid import services as smartgrid

    smartgrid.set_enabled(plant.pk, True, now=T0)
    smartgrid.heartbeat(plant.pk, now=T0 + dt.timedelta(seconds=1))
    smartgrid.write_limit(
        plant.pk, g.CONSUME, active=True, value_w=4200.0, duration_s=None, now=T0 + dt.timedelta(seconds=2)
    )
    smartgrid.write_limit(
        plant.pk, g.CONSUME, active=False, value_w=4200.0, duration_s=None, now=T0 + dt.timedelta(seconds=9)
    )
    events = list(Event.objects.filter(plant=plant, time__gte=T0 + dt.timedelta(seconds=2)).order_by("time", "id"))
    assert [(e.kind, e.message, e.time) for e in events] == [
        (GRID_LIMIT_RECEIVED, "consumption limit (LPC) 4200 W received", T0 + dt.timedelta(seconds=2)),
        (GRID_LIMIT_ENDED, "consumption limit (LPC) ended", T0 + dt.timedelta(seconds=9)),
    ]


def test_a_login_lock_out_is_one_event_of_the_device(client: Client, db: None, settings: Any) -> None:
    settings.LOGIN_FAILURES_ALLOWED = 3
    get_user_model().objects.create_user("anna", password="Secret-Pass-1")
    for _ in range(int(settings.LOGIN_FAILURES_ALLOWED) + 3):
        client.post("/login/", {"username": "anna", "password": "wrong"})
    lockouts = list(Event.objects.filter(kind=LOGIN_LOCKOUT))
    assert len(lockouts) == 1
    assert lockouts[0].plant is None and lockouts[0].severity == WARNING
    assert (
        lockouts[0].message
        == f"address 127.0.0.1 locked out for 15 min after {settings.LOGIN_FAILURES_ALLOWED} wrong passwords or codes"
    )


def test_a_backup_and_a_refused_restore_are_events(db: None, tmp_path: Any) -> None:
    from devicejobs import DeviceJobError
    from plant import backups
    from portal import backup

    result = backups.create_job({"password": backup.seal("Backup-Pass-1")}, lambda c, t: None, lambda f, m: None)
    made = Event.objects.get(kind=BACKUP_RESULT)
    assert made.severity == INFO and made.message.startswith("backup created: ")
    path = backups.backup_dir() / result["file"]
    upload = backups.new_upload_path()
    upload.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(DeviceJobError):
        backups.restore_job(
            {"file": upload.name, "password": backup.seal("Backup-Pass-1")}, lambda c, t: None, lambda f, m: None
        )
    refused = Event.objects.filter(kind=BACKUP_RESULT, severity=ERROR).get()
    assert refused.message.startswith("restore refused: ")


# Who sees what ----------------------------------------------------------------------------------


@pytest.fixture
def logged(plant: Plant, other_plant: Plant) -> dict[str, Event]:
    return {
        "home": Event.objects.create(time=T0, plant=plant, kind=DEVICE_OFFLINE, severity=WARNING, message="home meter offline"),
        "neighbour": Event.objects.create(
            time=T0 + dt.timedelta(minutes=1), plant=other_plant, kind=DEVICE_OFFLINE, severity=WARNING, message="neighbour meter offline"
        ),
        "device": Event.objects.create(
            time=T0 + dt.timedelta(minutes=2), kind=LOGIN_LOCKOUT, severity=WARNING, message="address locked out"
        ),
        "backup": Event.objects.create(time=T0 + dt.timedelta(days=2), kind=BACKUP_RESULT, severity=INFO, message="backup created"),
    }  # fmt: skip


def messages(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["message"] for row in response.json()["results"]]


def test_a_person_sees_only_the_events_of_plants_they_have_a_role_on(
    plant: Plant, other_plant: Plant, logged: dict[str, Event]
) -> None:
    otto = person("otto", plant, Membership.Role.OPERATOR)
    assert messages(otto.get("/api/v1/events")) == ["home meter offline"]
    assert otto.get(f"/api/v1/events?plant={other_plant.pk}").status_code == 403
    page = otto.get("/events/").content.decode()
    assert "home meter offline" in page and "neighbour meter offline" not in page and "locked out" not in page
    assert otto.get(f"/events/?plant={other_plant.pk}").status_code == 403


def test_a_role_on_every_plant_shows_the_devices_own_events(
    plant: Plant, other_plant: Plant, logged: dict[str, Event]
) -> None:
    both = person("both", plant, Membership.Role.OPERATOR)
    Membership.objects.create(user=get_user_model().objects.get(username="both"), plant=other_plant, role="operator")
    assert messages(both.get("/api/v1/events")) == [
        "backup created", "address locked out", "neighbour meter offline", "home meter offline"
    ]  # fmt: skip


def test_nobody_logged_in_sees_nothing(client: Client, logged: dict[str, Event]) -> None:
    assert client.get("/api/v1/events").status_code in (401, 403)
    assert client.get("/events/").status_code == 302


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=login_lockout", ["address locked out"]),
        ("severity=warning", ["address locked out", "neighbour meter offline", "home meter offline"]),
        ("severity=info", ["backup created", "address locked out", "neighbour meter offline", "home meter offline"]),
        ("from=2026-05-02", ["backup created"]),
        ("to=2026-05-01", ["address locked out", "neighbour meter offline", "home meter offline"]),
        ("from=2026-05-01T12:00:30%2B00:00&to=2026-05-01T12:01:30%2B00:00", ["neighbour meter offline"]),
    ],
)
def test_filters(user_client: Client, logged: dict[str, Event], query: str, expected: list[str], settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    assert messages(user_client.get(f"/api/v1/events?{query}")) == expected
    page = user_client.get(f"/events/?{query}").content.decode()
    assert page.count('data-testid="event-row"') == len(expected)


def test_the_plant_filter(user_client: Client, plant: Plant, logged: dict[str, Event]) -> None:
    assert messages(user_client.get(f"/api/v1/events?plant={plant.pk}")) == ["home meter offline"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("kind=coffee", "kind"),
        ("severity=loud", "severity"),
        ("plant=abc", "plant"),
        ("plant=-1", "plant"),
        ("from=yesterday", "from"),
        ("to=2026-13-40", "to"),
        ("from=2026-05-01T25:00", "from"),
        ("from=2026-05-01T12:00:00%2B99:00", "from"),
        ("from=2026-05-03&to=2026-05-01", "to"),
        ("limit=0", "limit"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(
    user_client: Client, logged: dict[str, Event], query: str, named: str
) -> None:
    api = user_client.get(f"/api/v1/events?{query}")
    assert api.status_code == 400 and named in api.content.decode()
    if named != "limit":
        page = user_client.get(f"/events/?{query}")
        assert page.status_code == 400 and named in page.content.decode()


def test_pages_of_fifty(user_client: Client, plant: Plant) -> None:
    Event.objects.bulk_create(
        Event(time=T0 + dt.timedelta(seconds=n), plant=plant, kind=BACKUP_RESULT, message=f"event {n}")
        for n in range(120)
    )
    first = user_client.get("/events/").content.decode()
    assert first.count('data-testid="event-row"') == 50 and "event 119" in first and 'data-testid="page-next"' in first
    last = user_client.get("/events/?kind=backup_result&page=3").content.decode()
    assert last.count('data-testid="event-row"') == 20 and "event 0<" in last
    api = user_client.get("/api/v1/events?limit=10&offset=110").json()
    assert api["count"] == 120 and [r["message"] for r in api["results"]][-1] == "event 0"
    assert user_client.get("/events/?page=0").status_code == 400


def test_the_dashboard_shows_the_plants_recent_events(
    user_client: Client, plant: Plant, logged: dict[str, Event]
) -> None:
    page = user_client.get("/").content.decode()
    assert 'data-testid="recent-events"' in page
    assert "home meter offline" in page and "address locked out" in page
    assert "neighbour meter offline" not in page


# Mail: rate limit and retries ---------------------------------------------------------------------


@pytest.mark.usefixtures("eager_celery")
def test_mails_beyond_the_hourly_limit_are_held_back(
    plant: Plant, smtp: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    mail_to(smtp, kinds=[BACKUP_RESULT], max_per_hour=2)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            services.record(BACKUP_RESULT, f"backup {n}")
    assert len(smtp.inbox) == 2
    assert list(Event.objects.order_by("id").values_list("mail_state", flat=True)) == [
        MAIL_SENT, MAIL_SENT, MAIL_RATE_LIMITED, MAIL_RATE_LIMITED
    ]  # fmt: skip


@pytest.mark.usefixtures("eager_celery")
def test_a_server_that_stays_away_is_retried_then_given_up_with_the_reason(
    db: None, smtp: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    port = dead_port()
    mail_to(smtp, kinds=[BACKUP_RESULT], port=port)
    with django_capture_on_commit_callbacks(execute=True):
        services.record(BACKUP_RESULT, "backup created")
    event = Event.objects.get()
    assert event.mail_state == MAIL_FAILED
    assert event.mail_error.startswith(f"cannot connect to 127.0.0.1:{port}")


@pytest.mark.usefixtures("eager_celery")
def test_a_task_delivered_twice_sends_one_mail(
    db: None, smtp: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    from events.tasks import send_event_mail

    mail_to(smtp, kinds=[BACKUP_RESULT])
    with django_capture_on_commit_callbacks(execute=True):
        event = services.record(BACKUP_RESULT, "backup created")
    assert event is not None
    assert send_event_mail.apply(args=(event.pk,)).get() == "not waiting"
    assert len(smtp.inbox) == 1


def test_the_pages_speak_german(user_client: Client, logged: dict[str, Event]) -> None:
    page = user_client.get("/events/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Ereignisse" in page and "Anmeldesperre" in page and "Mindestens" in page
    mail_page = user_client.get("/events/mail/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Test-E-Mail senden" in mail_page and "Verschlüsselung" in mail_page


def test_an_events_message_is_shown_in_the_readers_language_and_stored_in_english(
    user_client: Client, plant: Plant
) -> None:
    from smartgrid import services as smartgrid

    smartgrid.set_enabled(plant.pk, True, now=T0)
    smartgrid.heartbeat(plant.pk, now=T0 + dt.timedelta(seconds=1))
    smartgrid.write_limit(
        plant.pk, g.PRODUCE, active=True, value_w=3000.0, duration_s=None, now=T0 + dt.timedelta(seconds=2)
    )
    services.record(BACKUP_RESULT, "backup created", source="backup")  # a message made whole: as it is
    german = user_client.get("/events/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = user_client.get("/events/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Einspeisegrenze (LPP) 3000 W empfangen" in german and "backup created" in german
    assert "production limit (LPP) 3000 W received" in english
    api = user_client.get("/api/v1/events", HTTP_ACCEPT_LANGUAGE="de").json()["results"]
    assert "production limit (LPP) 3000 W received" in [row["message"] for row in api], "the API keeps English"
