"""Access tokens at the door: the 401/403 matrix, admin = installer, revocation, no writes (ACC-2, ACC-5)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access import services
from access.models import AccessToken
from access.tests.conftest import MakeToken, bearer
from modbus import services as modbus_services
from plant.models import Plant

pytestmark = pytest.mark.django_db

READ = "/api/v1/plants/"
CHANGE = "/api/v1/modbus/settings"
IN_A_MONTH = (timezone.now().date() + dt.timedelta(days=30)).isoformat()
WELL_FORMED_UNKNOWN = "ksem_abcd1234_" + "x" * 43


@pytest.mark.parametrize(
    ("state", "reason"),
    [("pending", "token not yet authorised"), ("expired", "token expired"), ("revoked", "token revoked")],
)
@pytest.mark.parametrize("role", ["api", "admin"])
def test_a_token_that_may_not_enter_is_401_naming_why(
    client: Client, make_token: MakeToken, role: str, state: str, reason: str
):
    response = client.get(READ, headers=bearer(make_token(role, state)))
    assert response.status_code == 401
    assert response.json() == {"detail": reason}
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("presented", [WELL_FORMED_UNKNOWN, "abc", "", "ksem_abcd1234_short"])
def test_unknown_or_malformed_tokens_are_401(client: Client, presented: str):
    response = client.get(READ, headers={"Authorization": f"Bearer {presented}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid token"}


def test_a_right_prefix_with_a_wrong_secret_is_invalid(client: Client, make_token: MakeToken):
    secret = make_token("admin")
    forged = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
    response = client.get(READ, headers=bearer(forged))
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid token"}


def test_no_credentials_is_401(client: Client):
    response = client.get(READ)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_an_api_token_reads_measurements_but_changes_nothing(client: Client, make_token: MakeToken, plant: Plant):
    headers = bearer(make_token("api"))
    assert client.get(READ, headers=headers).status_code == 200
    assert client.get(f"/api/v1/plants/{plant.pk}/history", headers=headers).status_code == 200
    before = modbus_services.get_settings().push_interval_s
    for method in ("put", "patch", "post", "delete"):
        response = getattr(client, method)(
            CHANGE, {"push_interval_s": 99}, content_type="application/json", headers=headers
        )
        assert response.status_code == 403, method
        assert "api token may only read" in response.json()["detail"]
    assert modbus_services.get_settings().push_interval_s == before
    assert client.get("/api/v1/tokens/", headers=headers).status_code == 403, "access management is for installers"


def test_an_admin_token_changes_what_an_installer_may(client: Client, make_token: MakeToken):
    headers = bearer(make_token("admin"))
    response = client.put(CHANGE, {"push_interval_s": 42}, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.json()
    assert modbus_services.get_settings().push_interval_s == 42
    bad = client.put(CHANGE, {"push_interval_s": 0}, content_type="application/json", headers=headers)
    assert bad.status_code == 400 and "push_interval_s" in bad.json()


def test_an_admin_token_creates_and_authorises_tokens_without_csrf(make_token: MakeToken):
    client = Client(enforce_csrf_checks=True)
    headers = bearer(make_token("admin"))
    created = client.post(
        "/api/v1/tokens/", {"name": "dashboard app", "role": "api", "expires_on": IN_A_MONTH},
        content_type="application/json", headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "pending" and body["secret"].startswith("ksem_")
    assert client.get(READ, headers=bearer(body["secret"])).status_code == 401
    assert client.post(f"/api/v1/tokens/{body['id']}/authorise", headers=headers).json()["state"] == "active"
    assert client.get(READ, headers=bearer(body["secret"])).status_code == 200


def test_revocation_holds_on_the_very_next_request(client: Client, make_token: MakeToken):
    victim = bearer(make_token("api"))
    admin = bearer(make_token("admin"))
    assert client.get(READ, headers=victim).status_code == 200
    token_id = AccessToken.objects.get(role="api").pk
    assert client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin).json()["state"] == "revoked"
    response = client.get(READ, headers=victim)
    assert response.status_code == 401
    assert response.json() == {"detail": "token revoked"}
    again = client.post(f"/api/v1/tokens/{token_id}/authorise", headers=admin)
    assert again.status_code == 400 and "revoked" in again.json()["token"][0]


def test_checking_a_token_writes_nothing_to_the_database(client: Client, make_token: MakeToken, plant: Plant):
    headers = bearer(make_token("api"))
    assert AccessToken.objects.get().last_used_at is None
    assert client.get(READ, headers=headers).status_code == 200  # notes the first use
    first_use = AccessToken.objects.get().last_used_at
    assert first_use is not None
    for path in (READ, f"/api/v1/plants/{plant.pk}/state", f"/api/v1/plants/{plant.pk}/history"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path, headers=headers).status_code in (200, 503)
        writes = [
            q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
        ]
        assert writes == [], path
    assert AccessToken.objects.get().last_used_at == first_use, "refreshed at most once a minute"


def test_last_used_is_refreshed_once_the_minute_has_passed(
    client: Client, make_token: MakeToken, monkeypatch: pytest.MonkeyPatch
):
    headers = bearer(make_token("api"))
    client.get(READ, headers=headers)
    first_use = AccessToken.objects.get().last_used_at
    assert first_use is not None
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + services.LAST_USED_RESOLUTION * 2)  # two minutes on
    client.get(READ, headers=headers)
    refreshed = AccessToken.objects.get().last_used_at
    assert refreshed is not None and refreshed > first_use + services.LAST_USED_RESOLUTION


def test_an_admin_token_opens_the_pages_as_an_installer(make_token: MakeToken):
    client = Client(enforce_csrf_checks=True)
    headers = bearer(make_token("admin"))
    page = client.get("/profile/tokens/", headers=headers)
    assert page.status_code == 200
    assert b'data-testid="token-list"' in page.content
    created = client.post(
        "/profile/tokens/", {"name": "via page", "role": "api", "expires_on": IN_A_MONTH}, headers=headers
    )
    assert created.status_code == 200 and b"token-secret" in created.content
    assert AccessToken.objects.filter(name="via page").exists()
    assert "sessionid" not in created.cookies, "a bearer request opens no session"


def test_pages_refuse_api_and_bad_tokens(client: Client, make_token: MakeToken):
    assert client.get("/profile/tokens/", headers=bearer(make_token("api"))).status_code == 403
    response = client.get("/profile/tokens/", headers=bearer(make_token("admin", "revoked")))
    assert response.status_code == 401
    assert response.json() == {"detail": "token revoked"}
    anonymous = client.get("/profile/tokens/")
    assert anonymous.status_code == 302, "without a header the login page as before"
