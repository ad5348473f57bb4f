"""The e-mail settings page and API: the test button reports the server's answer, the password
is stored encrypted and never shown back, bad input is refused naming the field, installers only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from events import secret
from events.models import MailSettings
from events.tests.conftest import dead_port
from events.tests.smtp_server import SmtpServer
from plant.models import Plant

PASSWORD = "Mail-Pass-7"


def form(server: SmtpServer | None = None, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "enabled": "on",
        "host": server.host if server else "smtp.example.org",
        "port": str(server.port) if server else "587",
        "tls": "none" if server else "starttls",
        "username": "mailer",
        "password": PASSWORD,
        "sender": "ksem@example.org",
        "recipients": "owner@example.org\ninstaller@example.org",
        "kinds": ["device_offline", "wallbox_error"],
        "max_per_hour": "10",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_saving_stores_the_password_encrypted_and_never_shows_it(installer: Client) -> None:
    response = installer.post("/events/mail/save/", form())
    assert response.status_code == 302
    row = MailSettings.objects.get(pk=1)
    assert row.enabled and row.host == "smtp.example.org" and row.tls == "starttls"
    assert row.kinds == ["device_offline", "wallbox_error"]
    assert row.recipients == "owner@example.org\ninstaller@example.org"
    assert PASSWORD not in row.password_encrypted
    assert secret.decrypt(row.password_encrypted) == PASSWORD

    page = installer.get("/events/mail/").content.decode()
    assert PASSWORD not in page and row.password_encrypted not in page
    assert 'data-testid="password-set"' in page
    api = installer.get("/api/v1/events/mail")
    assert api.status_code == 200
    assert api.json()["password_set"] is True
    assert "password" not in api.json()
    assert PASSWORD not in api.content.decode() and row.password_encrypted not in api.content.decode()


def test_an_empty_password_keeps_the_stored_one_and_remove_clears_it(installer: Client) -> None:
    installer.post("/events/mail/save/", form())
    installer.post("/events/mail/save/", form(password="", host="mail.example.org"))
    row = MailSettings.objects.get(pk=1)
    assert row.host == "mail.example.org" and secret.decrypt(row.password_encrypted) == PASSWORD
    installer.post("/events/mail/save/", form(password="", clear_password="on"))
    assert MailSettings.objects.get(pk=1).password_encrypted == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host", "smtp://mail.example.org"),
        ("host", "mail.example.org:25"),
        ("host", "mail example.org"),
        ("host", "-bad-.example.org"),
        ("port", "0"),
        ("port", "65536"),
        ("port", "twenty-five"),
        ("tls", "ssl3"),
        ("sender", "not an address"),
        ("recipients", "owner@example.org, nobody"),
        ("kinds", ["device_offline", "coffee_empty"]),
        ("max_per_hour", "0"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(installer: Client, field: str, value: Any) -> None:
    installer.post("/events/mail/save/", form())
    before = MailSettings.objects.values().get(pk=1)
    response = installer.post("/events/mail/save/", form(**{field: value}))
    assert response.status_code == 400
    assert f'data-testid="error-{field}"' in response.content.decode()
    assert MailSettings.objects.values().get(pk=1) == before

    api = installer.put("/api/v1/events/mail", {field: value}, content_type="application/json")
    assert api.status_code == 400
    assert field in api.json() or field in str(api.json())
    assert MailSettings.objects.values().get(pk=1) == before


def test_switching_mail_on_needs_server_sender_and_recipients(installer: Client) -> None:
    response = installer.post("/events/mail/save/", form(host="", sender="", recipients=""))
    assert response.status_code == 400
    page = response.content.decode()
    for field in ("host", "sender", "recipients"):
        assert f'data-testid="error-{field}"' in page
    api = installer.put("/api/v1/events/mail", {"enabled": True}, content_type="application/json")
    assert api.status_code == 400 and "host" in api.json()


def test_the_test_button_reports_the_accepting_servers_answer(installer: Client, smtp: SmtpServer) -> None:
    response = installer.post("/events/mail/test/", form(smtp))
    page = response.content.decode()
    assert response.status_code == 200
    assert f"Accepted by 127.0.0.1:{smtp.port}: 250 2.0.0 Ok: queued as TEST1" in page
    assert 'data-ok="yes"' in page
    assert len(smtp.inbox) == 1 and smtp.logins == [("mailer", PASSWORD)]
    assert smtp.inbox[0].recipients == ["owner@example.org", "installer@example.org"]
    assert not MailSettings.objects.filter(pk=1, host=smtp.host).exists()  # a test saves nothing


def test_the_test_button_reports_a_refused_login(installer: Client, refusing_smtp: SmtpServer) -> None:
    response = installer.post("/events/mail/test/", form(refusing_smtp))
    page = response.content.decode()
    assert 'data-ok="no"' in page
    assert "Not sent: login refused: 535" in page
    assert refusing_smtp.inbox == []


def test_the_test_button_uses_the_stored_password_when_none_is_typed(installer: Client, smtp: SmtpServer) -> None:
    installer.post("/events/mail/save/", form(smtp))
    response = installer.post("/events/mail/test/", form(smtp, password=""))
    assert 'data-ok="yes"' in response.content.decode()
    assert smtp.logins == [("mailer", PASSWORD)]


def test_the_test_button_reports_a_server_that_is_not_there(installer: Client) -> None:
    port = dead_port()
    response = installer.post("/events/mail/test/", form(host="127.0.0.1", port=str(port), tls="none"))
    assert f"Not sent: cannot connect to 127.0.0.1:{port}" in response.content.decode()


def test_the_api_test_answers_the_server(installer: Client, smtp: SmtpServer, refusing_smtp: SmtpServer) -> None:
    body = {"host": smtp.host, "port": smtp.port, "tls": "none", "username": "mailer", "password": PASSWORD,
            "sender": "ksem@example.org", "recipients": "owner@example.org"}  # fmt: skip
    ok = installer.post("/api/v1/events/mail/test", body, content_type="application/json")
    assert ok.status_code == 200
    assert ok.json()["ok"] is True and "250 2.0.0 Ok: queued as TEST1" in ok.json()["message"]
    refused = installer.post(
        "/api/v1/events/mail/test", body | {"port": refusing_smtp.port}, content_type="application/json"
    )
    assert refused.json()["ok"] is False and "login refused: 535" in refused.json()["message"]
    assert PASSWORD not in refused.content.decode()


def test_operators_read_but_may_not_change_or_send(operator: Client, installer: Client, smtp: SmtpServer) -> None:
    installer.post("/events/mail/save/", form())
    assert operator.get("/events/mail/").status_code == 200
    assert operator.post("/events/mail/save/", form(host="evil.example.org")).status_code == 403
    assert operator.post("/events/mail/test/", form(smtp)).status_code == 403
    assert (
        operator.put("/api/v1/events/mail", {"host": "evil.example.org"}, content_type="application/json").status_code
        == 403
    )
    assert MailSettings.objects.get(pk=1).host == "smtp.example.org"
    assert smtp.inbox == []


def test_an_installer_of_one_plant_of_two_may_not_change_the_devices_mail(
    installer: Client, other_plant: Plant
) -> None:
    assert installer.post("/events/mail/save/", form()).status_code == 403
    assert installer.get("/api/v1/events/mail").status_code == 403


def test_starttls_against_a_server_without_it_says_so(installer: Client, smtp: SmtpServer) -> None:
    response = installer.post("/events/mail/test/", form(smtp, tls="starttls"))
    page = response.content.decode()
    assert 'data-ok="no"' in page
    assert "Not sent: the server does not support this: STARTTLS extension not supported by server" in page
    assert smtp.inbox == [] and smtp.logins == []  # the password never went out in the clear
