"""Live dashboard websocket: routes the plant group's snapshots to the browser, nothing more."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from plant import live
from plant.models import Plant

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


class PlantLiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        # Accept first, then close with an application code: a close before the handshake
        # reaches the browser as a bare 1006, and the page could not tell "logged out".
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.plant_id = int(self.scope["url_route"]["kwargs"]["plant_id"])
        if not await database_sync_to_async(Plant.objects.filter(pk=self.plant_id).exists)():
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = live.group_name(self.plant_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        redis = live.async_redis()
        try:
            raw = await redis.get(live.state_key(self.plant_id))
        finally:
            await redis.aclose()
        if raw:
            await self.send_json({"type": "state", "state": json.loads(raw)})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The socket is one-way; anything a client sends is ignored."""

    async def state_update(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "state", "state": event["state"]})
