"""Live dashboard websocket: routes the plant group's snapshots to the browser, nothing more.

The socket is one-way. Whatever a client sends (text that is no JSON, an empty or binary frame,
JSON nested deeper than the parser's stack) is answered with an error frame and otherwise
ignored; it never ends the connection with a traceback.

A socket belongs to the session that opened it: it joins the session's group, and logging out
(``user_logged_out``, any way in) sends that group a message that closes it with 4401. For a
session that ends without a logout (expiry, a password change elsewhere, Redis unreachable at
logout), the session is checked again on every frame the client sends and at least every
``SESSION_RECHECK_S`` while snapshots are streamed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

import redisconn
from pages.params import checked_id
from plant import live
from plant.models import Plant
from portal.sockets import refusal as socket_refusal

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
SESSION_RECHECK_S = 15.0
# The largest client frame worth reading; uvicorn refuses much larger ones itself (--ws-max-size).
MAX_CLIENT_FRAME_CHARS = 4096


def session_group_name(session_key: str) -> str:
    """The group of every socket of one browser session (the key itself never leaves the web process)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def frame_problem(text_data: str | None, bytes_data: bytes | None) -> str | None:
    """Why a client frame is not a JSON message, or None when it is one."""
    if text_data is None:
        return "binary frames are not accepted" if bytes_data else "empty frame"
    if not text_data.strip():
        return "empty frame"
    if len(text_data) > MAX_CLIENT_FRAME_CHARS:
        return f"frame longer than {MAX_CLIENT_FRAME_CHARS} characters"
    try:
        json.loads(text_data)
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError:
        return "not JSON"
    return None


async def _session_user_id(session_key: str) -> Any:
    """The id of the user a session still belongs to (None once it has ended), read afresh."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": store})
    return user.pk if user.is_authenticated else None


class PlantLiveConsumer(AsyncWebsocketConsumer):
    plant_id: int
    group: str | None = None
    session_group: str | None = None
    session_key: str | None = None
    user_id: Any = None
    checked_at: float = 0.0

    async def connect(self) -> None:
        # Accept first, then close with an application code: a close before the handshake
        # reaches the browser as a bare 1006, and the page could not tell "logged out".
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        plant_id = checked_id(self.scope["url_route"]["kwargs"]["plant_id"])
        if plant_id is None or not await database_sync_to_async(Plant.objects.filter(pk=plant_id).exists)():
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Two-factor code entered and a role on this plant (portal owns the rule).
        refused = await database_sync_to_async(socket_refusal)(self.scope, plant_id)
        if refused is not None:
            await self.accept()
            await self.close(code=refused)
            return
        self.plant_id = plant_id
        self.user_id = user.pk
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.checked_at = time.monotonic()
        if self.session_key:
            self.session_group = session_group_name(self.session_key)
            await self.channel_layer.group_add(self.session_group, self.channel_name)
        self.group = live.group_name(self.plant_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        redis = redisconn.async_redis()
        try:
            raw = await redis.get(live.state_key(self.plant_id))
        finally:
            await redis.aclose()
        if raw:
            await self.send(text_data=json.dumps({"type": "state", "state": json.loads(raw)}))

    async def disconnect(self, code: int) -> None:
        for group in (self.group, self.session_group):
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def _session_ended(self) -> bool:
        """True (and the socket closed with 4401) when the session that opened it has ended."""
        self.checked_at = time.monotonic()
        if self.session_key is None:
            return False
        if await _session_user_id(self.session_key) == self.user_id:
            return False
        await self.close(code=CLOSE_UNAUTHORIZED)
        return True

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if await self._session_ended():
            return
        problem = frame_problem(text_data, bytes_data)
        if problem is not None:
            await self.send(text_data=json.dumps({"type": "error", "error": problem}))
        # A well-formed message asks for nothing either: the socket is one-way.

    async def state_update(self, event: dict[str, Any]) -> None:
        if time.monotonic() - self.checked_at >= SESSION_RECHECK_S and await self._session_ended():
            return
        await self.send(text_data=json.dumps({"type": "state", "state": event["state"]}))

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)


class RefusedSocket(AsyncWebsocketConsumer):
    """Any websocket path without a route: the handshake is refused (403), nothing is logged."""

    async def connect(self) -> None:
        await self.close()


@receiver(user_logged_out, dispatch_uid="plant.consumers.close_sockets_at_logout")
def close_sockets_at_logout(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    layer = get_channel_layer()
    if not session_key or layer is None:
        return
    try:
        async_to_sync(layer.group_send)(session_group_name(session_key), {"type": "session.ended"})
    except Exception:
        log.warning("could not tell the open websockets of a logged-out session to close", exc_info=True)
