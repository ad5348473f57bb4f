from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import pydantic
import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import redisconn
from access import services as access
from access.rest import errors
from energy import snapshot
from meter.services import ENERGY_FIELDS, LOG_FIELDS, energy_records, meter_log
from plant import live, plantlist
from plant import options as plant_options
from plant.api.renderers import LogCsvRenderer
from plant.health import check_health
from plant.models import Plant
from plant.services import visible_plants
from portal.activation import ActivationError
from portal.guard import client_address
from portal.roles import is_installer_everywhere, may_read


class HealthView(APIView):
    """Status of database, Redis, beat, the last cycle and meter sample; 503 when any is down or stale."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        healthy, report = check_health()
        # No authentication: plants by id and status. Words that name hosts, addresses or the
        # database (error texts) and a plant's name only for a browser session that may read them:
        # a plant's for a role on it, the database's and Redis's for a role on every plant.
        viewer = get_user(request._request)  # the browser session's, if any (this view authenticates nobody)
        for plant in report["plants"]:
            if not may_read(viewer, plant["id"]):
                plant.pop("name", None)
                plant["meter"].pop("error", None)
        if not may_read(viewer, None):
            for part in ("database", "redis"):
                report[part].pop("error", None)
        return Response(report, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class PlantSerializer(serializers.ModelSerializer[Plant]):
    class Meta:
        model = Plant
        fields = ["id", "name", "time_zone", "installation_position", "is_active", "commissioned_at"]


class PlantListView(generics.ListAPIView[Plant]):
    """The plants the caller may read (``portal.roles.may_read``), paged (``limit``, ``offset``)."""

    serializer_class = PlantSerializer
    shows_only_readable_plants = True  # access.permissions.ApiAccess: a person with no role gets []

    def get_queryset(self) -> Any:
        return visible_plants(self.request.user)


class InstallationPositionSerializer(serializers.Serializer[Any]):
    installation_position = serializers.ChoiceField(
        choices=Plant.Position.choices,
        help_text="grid: the meter at the grid connection point (standard); home: it measures the home consumption.",
    )


class InstallationPositionView(APIView):
    """``GET|PUT /api/plants/{id}/installation-position`` (MET-6): where the meter is installed.

    Set in the admin's plant settings on the pages; installers change it. The home-consumption
    position is refused while feed-in limitation or battery management is on: both need the
    meter at the grid connection point (the power settings refuse the same the other way round).
    """

    @extend_schema(responses=InstallationPositionSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        return Response({"installation_position": plant.installation_position})

    @extend_schema(request=InstallationPositionSerializer, responses={200: InstallationPositionSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        body = InstallationPositionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        position = body.validated_data["installation_position"]
        power = getattr(plant, "power_settings", None)
        if position == Plant.Position.HOME and power is not None:
            on = [
                name
                for name, enabled in (
                    ("feed-in limitation", power.feed_in_limit_enabled),
                    ("battery management", power.battery_management_enabled),
                )
                if enabled
            ]
            if on:
                raise serializers.ValidationError(
                    {
                        "installation_position": [
                            f"Switch off {' and '.join(on)} first: it needs the meter at the grid connection point."
                        ]
                    }
                )
        plant.installation_position = position
        plant.save(update_fields=["installation_position"])
        return Response({"installation_position": plant.installation_position})


@dataclass(frozen=True)
class _StateBody:
    raw: bytes  # the snapshot as stored in Redis
    body: bytes  # the JSON answer for it
    checked_at: float  # when a request last found the plant and this snapshot valid (monotonic)


# The JSON answer of each plant's latest snapshot, rendered once per snapshot, not per request.
_state_bodies: dict[int, _StateBody] = {}
STATE_BODY_FRESH_S = 1.0
# While one request refreshes the caches through Django, the others are still answered from
# them, up to this age of the plant check (no herd of requests into Django every second).
STATE_BODY_STALE_S = 5.0


class PlantStateView(APIView):
    """The latest snapshot of a plant, as the live dashboard receives it."""

    @extend_schema(responses={200: dict, **errors(404, 503)})
    def get(self, request: Request, plant_id: int) -> Response | HttpResponse:
        plant = get_object_or_404(Plant, pk=plant_id)
        stored = redisconn.sync_redis().get(live.state_key(plant.pk))
        raw = stored.encode() if isinstance(stored, str) else stored
        cached = _state_bodies.get(plant.pk)
        if raw and cached is not None and cached.raw == raw:
            body = cached.body
        else:
            try:
                state = snapshot.from_json(raw) if raw else None
            except pydantic.ValidationError:
                state = live.read_state(plant.pk)  # logs the damaged snapshot (once)
                raw = None  # not cached: it is not what Redis holds
            if state is None:
                return Response({"detail": "no measurement yet"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
            body = JSONRenderer().render(snapshot.to_data(state))
        if raw:
            _state_bodies[plant.pk] = _StateBody(raw, body, time.monotonic())
        if isinstance(request.accepted_renderer, JSONRenderer):
            return HttpResponse(body, content_type="application/json")
        return Response(json.loads(body))  # the browsable API


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STATE_PATH = re.compile(r"^/api/(?:v1/)?plants/([0-9]{1,18})/state$")
_NONCE = re.compile(rb"'nonce-[A-Za-z0-9_-]+'")
# Header sets learned from Django's answers, per kind of request; bounded, so varied headers
# cannot grow the process (beyond it, such requests simply take the full path).
MAX_LEARNED_HEADER_SETS = 32


class StateFastPath:
    """ASGI in front of Django for the hottest request: ``GET /api/v1/plants/{id}/state`` with a
    bearer token (third-party apps poll it every second).

    It answers only when everything is already known and still valid: the token's row is in
    :mod:`access.services`' cache under the current token generation (so a revoke holds on the
    very next request) and its last use was noted within the minute; the plant's snapshot in
    Redis is the one whose JSON :class:`PlantStateView` rendered, for a plant Django found within
    the last second (``STATE_BODY_FRESH_S``; so a deleted plant stops answering); and Django has answered this kind of request (scheme, host,
    ``Accept``, ``Accept-Language``) before, whose response headers are repeated with a fresh
    CSP nonce. The generation and the snapshot come in one Redis round trip; no database, no
    thread. Anything else (another path or method, a query string, a cookie, an unknown or
    refused token, a token of a person with per-plant roles, Redis unreachable, a newer
    snapshot) goes to Django, which answers every case and refills the caches. When only the
    plant check or the minute's last-use note is due, one request goes to Django for it and the
    others are still answered (for at most ``STATE_BODY_STALE_S``), so requests do not pile into
    Django's thread once a second.
    """

    def __init__(self, app: Any) -> None:  # an ASGI application
        self.app = app
        self._headers: dict[tuple[bytes, ...], list[tuple[bytes, bytes]]] = {}
        self._refreshing: dict[int, float] = {}  # plant id: when a request went to Django for it
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
            return await self.app(scope, receive, send)
        match = STATE_PATH.match(scope["path"])
        if match is None:
            return await self.app(scope, receive, send)
        kind, presented = _request_kind(scope)
        if kind is None or presented is None:
            return await self.app(scope, receive, send)
        plant_id = int(match.group(1))
        answer = await self._answer(kind, plant_id, presented)
        if answer is None:
            try:
                return await self.app(scope, receive, self._learning(send, kind, plant_id))
            finally:
                self._refreshing.pop(plant_id, None)
        headers, body = answer
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, kind: tuple[bytes, ...], plant_id: int, presented: str
    ) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        headers = self._headers.get(kind)
        cached = _state_bodies.get(plant_id)
        now = time.monotonic()
        if headers is None or cached is None or now - cached.checked_at > STATE_BODY_STALE_S:
            return None
        try:
            generation, raw = await self._redis().mget(access.generation_key(), live.state_key(plant_id))
        except (redis.RedisError, OSError):
            return None
        if raw != cached.raw:
            return None
        token = access.cached_token(presented, generation)
        # Only for a token whose user reads every plant (portal.roles.may_read); anyone else's
        # token goes to Django, which checks their role on this plant.
        if token is None or not is_installer_everywhere(token.user):
            return None
        if now - cached.checked_at > STATE_BODY_FRESH_S or access.last_use_due(token):
            # Due for Django's look (plant still there, last use to note): one request goes.
            started = self._refreshing.get(plant_id)
            if started is None or now - started > STATE_BODY_STALE_S:
                self._refreshing[plant_id] = now
                return None
        nonce = b"'nonce-" + secrets.token_urlsafe(16).encode() + b"'"
        fresh = [
            (name, _NONCE.sub(nonce, value) if name == b"content-security-policy" else value) for name, value in headers
        ]
        fresh.append((b"content-length", str(len(cached.body)).encode()))
        return fresh, cached.body

    def _redis(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redisconn.async_redis()
        return client

    def _learning(self, send: Send, kind: tuple[bytes, ...], plant_id: int) -> Send:
        """Passes Django's answer on; remembers its headers if it is the cached snapshot's JSON."""
        start: Message | None = None

        async def passing(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None and not message.get("more_body"):
                self._learn(kind, plant_id, start, bytes(message.get("body", b"")))
            await send(message)

        return passing

    def _learn(self, kind: tuple[bytes, ...], plant_id: int, start: Message, body: bytes) -> None:
        cached = _state_bodies.get(plant_id)
        headers = [(bytes(name).lower(), bytes(value)) for name, value in start.get("headers", [])]
        names = {name for name, _value in headers}
        if (
            start.get("status") != 200
            or cached is None
            or body != cached.body
            or (b"content-type", b"application/json") not in headers
            or b"set-cookie" in names
            or (kind not in self._headers and len(self._headers) >= MAX_LEARNED_HEADER_SETS)
        ):
            return
        self._headers[kind] = [(name, value) for name, value in headers if name != b"content-length"]


def _request_kind(scope: Scope) -> tuple[tuple[bytes, ...] | None, str | None]:
    """What the answer's headers depend on, and the bearer token; (None, None) when the request
    carries something only Django may judge (a cookie, a repeated header, no bearer token)."""
    wanted = {b"host": b"", b"accept": b"", b"accept-language": b"", b"authorization": b""}
    seen: set[bytes] = set()
    for name, value in scope.get("headers", []):
        if name == b"cookie" or name in seen:
            return None, None
        if name in wanted:
            seen.add(name)
            wanted[name] = value
    try:
        presented = access.bearer_from_header(wanted[b"authorization"].decode("latin-1"))
    except UnicodeDecodeError:
        return None, None
    if not presented:
        return None, None
    kind = (scope.get("scheme", "http").encode(), wanted[b"host"], wanted[b"accept"], wanted[b"accept-language"])
    return kind, presented


class HistoryQuerySerializer(serializers.Serializer[dict[str, int]]):
    hours = serializers.IntegerField(min_value=1, max_value=settings.METER_LOG_RETENTION_DAYS * 24, default=24)


class EnergyQuerySerializer(serializers.Serializer[dict[str, int]]):
    days = serializers.IntegerField(min_value=1, max_value=2 * 366, default=7)


class LogTableView(APIView):
    """A plant's log over a validated time window, as JSON or (``?format=csv``) as a CSV file."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, LogCsvRenderer]
    query_serializer: type[serializers.Serializer[dict[str, int]]]
    csv_rows_key: str
    csv_columns: tuple[str, ...]
    file_kind: str

    def window(self, query: dict[str, int]) -> dt.timedelta:
        raise NotImplementedError

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        raise NotImplementedError

    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        self.csv_filename = f"{slugify(plant.name) or plant.pk}-{self.file_kind}-{now:%Y%m%d-%H%M}.csv"
        rows = self.rows(plant.pk, now - self.window(query.validated_data))
        return Response({"plant": plant.pk, "interval_s": 300, self.csv_rows_key: rows})


class PlantHistoryView(LogTableView):
    """5-minute averages of the last ``hours`` hours (at most 14 days, MET-5); ``?format=csv`` for a file."""

    query_serializer = HistoryQuerySerializer
    csv_rows_key = "points"
    csv_columns = LOG_FIELDS
    file_kind = "5min"

    def window(self, query: dict[str, int]) -> dt.timedelta:
        return dt.timedelta(hours=query["hours"])

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        return meter_log(plant_id, since)

    @extend_schema(parameters=[HistoryQuerySerializer], responses={200: dict, **errors(400, 404)})
    def get(self, request: Request, plant_id: int) -> Response:
        return super().get(request, plant_id)


class PlantEnergyView(LogTableView):
    """The plant's energy totals every 5 minutes over the last ``days`` days (kept 2 years); ``?format=csv``."""

    query_serializer = EnergyQuerySerializer
    csv_rows_key = "records"
    csv_columns = ENERGY_FIELDS
    file_kind = "energy"

    def window(self, query: dict[str, int]) -> dt.timedelta:
        return dt.timedelta(days=query["days"])

    def rows(self, plant_id: int, since: dt.datetime) -> list[dict[str, Any]]:
        return energy_records(plant_id, since)

    @extend_schema(parameters=[EnergyQuerySerializer], responses={200: dict, **errors(400, 404)})
    def get(self, request: Request, plant_id: int) -> Response:
        return super().get(request, plant_id)


class ActivationCodeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=40, help_text="The ten-digit activation code (spaces and dashes allowed).")


class ActivationCodesView(APIView):
    """``GET|POST /api/plants/{id}/activation-codes`` (ACT-1): the plant's serial number and options;
    posting a code releases the option it is for (installers). A refused code answers 400 with
    ``reason`` (``format``, ``invalid``, ``no_key``), 429 after too many wrong codes (``locked``)."""

    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        return Response(_activation_body(plant))

    @extend_schema(request=ActivationCodeSerializer, responses={200: dict, 400: dict, 429: dict})
    def post(self, request: Request, plant_id: int) -> Response:
        plant = get_object_or_404(Plant, pk=plant_id)
        body = ActivationCodeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            option = plant_options.activate(plant, body.validated_data["code"], client_address(request))
        except ActivationError as error:
            code = status.HTTP_429_TOO_MANY_REQUESTS if error.reason == "locked" else status.HTTP_400_BAD_REQUEST
            return Response({"code": [str(error)], "reason": error.reason}, status=code)
        return Response({"released": option, **_activation_body(plant)})


def _activation_body(plant: Plant) -> dict[str, Any]:
    return {
        "serial_number": plant.serial_number,
        "options": [
            {"option": row.option, "label": row.label, "released": row.active, "released_at": row.activated_at}
            for row in plant_options.option_rows(plant)
        ],
    }


class PlantStatusListView(APIView):
    """``GET /api/plants/status``: the installer's plant list (issue 18.3) with each plant's status at
    a glance, the same search, filters and pages as ``/plants/`` (``q``, ``status`` ok|error|stale,
    ``limits`` yes|no, ``charging`` yes|no, ``page``; 25 a page). Only plants the caller may read."""

    shows_only_readable_plants = True  # access.permissions.ApiAccess: the list filters per plant itself

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        filters = plantlist.parse_filters(request.query_params)
        page = plantlist.plant_page(request.user, filters, plantlist.page_number(request.query_params), timezone.now())
        return Response(
            {
                "count": page.paginator.count,
                "page": page.number,
                "pages": page.paginator.num_pages,
                "per_page": page.paginator.per_page,
                "results": [row.as_data() for row in page.object_list],
            }
        )
