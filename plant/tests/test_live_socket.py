"""The live websocket as a hostile or careless client meets it (ACC-5, issue 7 part 7).

Through the real ASGI application (origin check, session auth, router), the embedded Redis as
channel layer and a session made by logging in. The client is asgiref's ApplicationCommunicator
with the few websocket steps of channels' WebsocketCommunicator (``channels.testing`` imports
daphne, which the product does not use), able to send the empty frames that one refuses to.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from ksem_site.asgi import application
from plant.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHORIZED, MAX_CLIENT_FRAME_CHARS, frame_problem
from plant.models import Plant

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "websocket",
            "path": raw_path,
            "query_string": query.encode(),
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(5)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, None

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame: dict[str, Any] = {"type": "websocket.receive"}
        if text_data is not None:
            frame["text"] = text_data
        else:
            frame["bytes"] = bytes_data
        await self.send_input(frame)

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_from(self) -> str:
        response = await self.receive_output(5)
        assert response["type"] == "websocket.send", response
        text: str = response["text"]
        return text

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(5)


def _login() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("watcher", password="Secret-Pass-1"))
    return client


async def _logged_in_client() -> Client:
    return await sync_to_async(_login)()


def _socket(path: str, client: Client | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(path, headers)


async def _plant() -> Plant:
    return await Plant.objects.acreate(name="Home", time_zone="Europe/Berlin")


async def _open_live(client: Client) -> tuple[WebsocketCommunicator, Plant]:
    plant = await _plant()
    socket = _socket(f"/ws/plants/{plant.pk}/live/", client)
    connected, _ = await socket.connect()
    assert connected
    return socket, plant


async def _still_streams(socket: WebsocketCommunicator, plant: Plant) -> None:
    """The socket is alive: a snapshot sent to the plant's group arrives."""
    from channels.layers import get_channel_layer

    from plant import live

    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(live.group_name(plant.pk), {"type": "state.update", "state": {"sequence": 42}})
    message = json.loads(await socket.receive_from())
    assert message == {"type": "state", "state": {"sequence": 42}}


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "this is not json"},
        {"text_data": ""},
        {"text_data": "   "},
        {"bytes_data": b"\x00\xff\x10binary"},
        {"bytes_data": b""},
        {"text_data": "[" * 2000 + "]" * 2000},
        {"text_data": '{"a":' * 1500 + "1" + "}" * 1500},
        {"text_data": "x" * (MAX_CLIENT_FRAME_CHARS + 1)},
        {"text_data": '{"unterminated": "'},
    ],
    ids=["not-json", "empty", "blank", "binary", "empty-binary", "nested-list", "nested-object", "huge", "broken"],
)
async def test_a_bad_frame_is_answered_with_an_error_and_the_socket_keeps_streaming(frame: dict[str, Any]) -> None:
    socket, plant = await _open_live(await _logged_in_client())

    await socket.send_to(**frame)

    answer = json.loads(await socket.receive_from())
    assert answer["type"] == "error" and answer["error"]
    await _still_streams(socket, plant)
    await socket.disconnect()


async def test_a_well_formed_message_is_ignored_without_an_answer() -> None:
    socket, plant = await _open_live(await _logged_in_client())

    await socket.send_json_to({"type": "subscribe", "plant": 99})

    assert await socket.receive_nothing(timeout=0.2)
    await _still_streams(socket, plant)
    await socket.disconnect()


@pytest.mark.parametrize(
    "path", ["/ws/nowhere/", "/ws/plants/abc/live/", "/ws/plants/1/live/extra", "/", "/ws/plants/²/live/"]
)
async def test_a_path_without_a_route_is_refused_at_the_handshake(path: str, caplog: pytest.LogCaptureFixture) -> None:
    socket = _socket(path, await _logged_in_client())

    connected, code = await socket.connect()

    assert not connected
    assert code == 1000  # refused (HTTP 403 to the browser), not an error
    assert not [record for record in caplog.records if record.exc_info]
    await socket.disconnect()


@pytest.mark.parametrize("plant_id", ["99999999999999999999", "0", "424242"])
async def test_an_unknown_or_impossible_plant_closes_with_4404(plant_id: str) -> None:
    socket = _socket(f"/ws/plants/{plant_id}/live/", await _logged_in_client())

    connected, _ = await socket.connect()

    assert connected
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}


async def test_without_a_session_the_socket_closes_with_4401() -> None:
    plant = await _plant()
    socket = _socket(f"/ws/plants/{plant.pk}/live/")

    connected, _ = await socket.connect()

    assert connected
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}


async def test_logging_out_closes_the_open_socket_of_that_session_with_4401() -> None:
    client = await _logged_in_client()
    socket, plant = await _open_live(client)
    other = await _logged_in_other()
    other_socket = _socket(f"/ws/plants/{plant.pk}/live/", other)
    assert (await other_socket.connect())[0]

    response = await sync_to_async(client.post)("/logout/")
    assert response.status_code == 302

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
    await _still_streams(other_socket, plant)  # another person's session is not touched
    await other_socket.disconnect()


async def _logged_in_other() -> Client:
    def login() -> Client:
        client = Client()
        client.force_login(get_user_model().objects.create_superuser("neighbour", password="Secret-Pass-2"))
        return client

    return await sync_to_async(login)()


async def test_a_session_that_ended_without_the_signal_closes_at_the_next_frame() -> None:
    client = await _logged_in_client()
    socket, _ = await _open_live(client)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    from django.contrib.sessions.models import Session

    await Session.objects.filter(session_key=session_key).adelete()  # expired / removed by hand

    await socket.send_to(text_data='{"type": "ping"}')

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}


@pytest.mark.parametrize(
    ("text", "binary", "problem"),
    [
        ('{"ok": true}', None, None),
        ("[1, 2, 3]", None, None),
        ("nope", None, "not JSON"),
        ("", None, "empty frame"),
        (None, b"", "empty frame"),
        (None, b"\x01", "binary frames are not accepted"),
        ("[" * 5000, None, f"frame longer than {MAX_CLIENT_FRAME_CHARS} characters"),
        ("[" * 1500 + "]" * 1500, None, "JSON nested too deeply"),
    ],
)
def test_frame_problems_are_named(text: str | None, binary: bytes | None, problem: str | None) -> None:
    assert frame_problem(text, binary) == problem
