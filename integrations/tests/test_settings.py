"""The MQTT page and API: settings with safe defaults, KSEM_MQTT_URL, the password stored
encrypted, the connection test, the status of serve_mqtt, and who may change what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from integrations import secret, services
from integrations.models import MqttSettings
from integrations.tests.conftest import Broker
from tests.stack import free_port

pytestmark = pytest.mark.django_db


def test_off_by_default_and_ksem_mqtt_url_switches_publishing_on_until_the_page_saves(user_client: Client, settings):
    assert services.broker_config().enabled is False
    settings.MQTT_URL = "mqtt://10.0.0.9:1884"
    config = services.broker_config()
    assert (config.enabled, config.host, config.port, config.prefix, config.discovery, config.source) == (
        True, "10.0.0.9", 1884, "ksem", True, "environment"
    )  # fmt: skip
    page = user_client.get("/mqtt/").content.decode()
    assert 'data-testid="mqtt-source">KSEM_MQTT_URL' in page and 'value="10.0.0.9"' in page
    form = {"enabled": "on", "host": "broker.lan", "port": "1883", "prefix": "home/ksem", "min_interval_s": "0"}
    assert user_client.post("/mqtt/save/", form).status_code == 302
    config = services.broker_config()
    assert (config.host, config.prefix, config.discovery, config.source) == ("broker.lan", "home/ksem", False, "page")


def test_the_password_is_stored_encrypted_and_never_shown(user_client: Client):
    response = user_client.put(
        "/api/mqtt", {"enabled": True, "username": "ha", "password": "s3cret-Pass"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "password" not in body and body["password_set"] is True and body["source"] == "page"
    row = MqttSettings.objects.get()
    assert "s3cret" not in row.password_encrypted and row.password_encrypted
    assert services.broker_config().password == "s3cret-Pass"
    assert "s3cret" not in user_client.get("/mqtt/").content.decode()
    with override_settings(SECRET_KEY="another installation's key"):
        assert secret.decrypt(row.password_encrypted) == ""
    # Saving the page without typing a password keeps it; the checkbox removes it.
    form = {"enabled": "on", "host": "127.0.0.1", "port": "1883", "prefix": "ksem", "min_interval_s": "0",
            "username": "ha"}  # fmt: skip
    assert user_client.post("/mqtt/save/", form).status_code == 302
    assert services.broker_config().password == "s3cret-Pass"
    assert user_client.post("/mqtt/save/", {**form, "clear_password": "on"}).status_code == 302
    assert services.broker_config().password == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 70000, "65535"),
        ("prefix", "ksem/#", "Letters, digits"),
        ("prefix", "", "blank"),
        ("host", "mqtt://x", "without scheme"),
        ("ca_certificate", "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----", "PEM"),
        ("min_interval_s", -1, "greater than or equal"),
        ("command_user", "nobody", "not exist"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field_and_changes_nothing(
    user_client: Client, field: str, value: Any, message
):
    response = user_client.put("/api/mqtt", {field: value}, content_type="application/json")
    assert response.status_code == 400
    assert message in str(response.json()), response.json()
    assert not MqttSettings.objects.exists()
    page = user_client.post("/mqtt/save/", {"host": "127.0.0.1", "port": "1883", "prefix": "ksem",
                                            "min_interval_s": "0", field: value})  # fmt: skip
    assert page.status_code == 400 and not MqttSettings.objects.exists()


def test_test_connection_with_the_values_in_the_form(user_client: Client, password_broker: Broker):
    form = {"host": password_broker.host, "port": str(password_broker.port), "prefix": "ksem",
            "min_interval_s": "0", "username": "homeassistant", "password": "s3cret-Pass"}  # fmt: skip
    page = user_client.post("/mqtt/test/", form).content.decode()
    assert f"connected to mqtt://127.0.0.1:{password_broker.port}" in page and 'data-ok="yes"' in page
    assert not MqttSettings.objects.exists()  # a test saves nothing
    refused = user_client.post("/mqtt/test/", {**form, "password": "wrong"}).content.decode()
    assert "refused the connection" in refused and 'data-ok="no"' in refused
    closed = user_client.post("/api/mqtt/test", {"port": free_port()}, content_type="application/json").json()
    assert closed["ok"] is False and "cannot connect" in closed["message"]
    # The API's test uses the stored password unless the body names one.
    user_client.put(
        "/api/mqtt", {k: v for k, v in form.items() if k != "min_interval_s"}, content_type="application/json"
    )
    assert user_client.post("/api/mqtt/test", {}, content_type="application/json").json()["ok"] is True


def test_the_page_shows_what_serve_mqtt_reports(user_client: Client):
    assert 'data-status="not running"' in user_client.get("/mqtt/").content.decode()
    services.write_status({"state": "error", "broker": "mqtt://x:1883", "error": "connection refused"})
    page = user_client.get("/mqtt/").content.decode()
    assert 'data-status="error"' in page and "connection refused" in page
    assert user_client.get("/api/mqtt").json()["status"]["error"] == "connection refused"


def test_only_installers_change_the_mqtt_settings(operator: Client):
    assert operator.put("/api/mqtt", {"enabled": True}, content_type="application/json").status_code == 403
    assert operator.post("/mqtt/save/", {"enabled": "on"}).status_code == 403
    assert operator.post("/api/mqtt/test", {}, content_type="application/json").status_code == 403
    assert not MqttSettings.objects.exists()


def test_the_page_speaks_german(user_client: Client):
    page = user_client.get("/mqtt/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    for text in ("Verbindung testen", "Broker-Host", "Topic-Präfix", "Befehle wirken als"):
        assert text in page, text
    assert "Test connection" not in page
