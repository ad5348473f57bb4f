"""A real SMTP server on loopback for the tests (aiosmtpd), on a port the OS picks.

``accept_login``: the user and password it accepts (None: every login is refused with 535).
``inbox`` holds what it accepted: sender, recipients and the parsed message.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.server.inbox.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 Ok: queued as TEST1"


@contextmanager
def smtp_server(accept_login: tuple[str, str] | None = None, auth_required: bool = False) -> Iterator[SmtpServer]:
    loop = asyncio.new_event_loop()
    box = SmtpServer("127.0.0.1", 0)
    handler = _Handler(box)

    def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode(), auth_data.password.decode())
        box.logins.append(login)
        return AuthResult(success=accept_login is not None and login == accept_login, handled=False)

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="test.smtp.local",
            authenticator=authenticator,
            auth_require_tls=False,
            auth_required=auth_required,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    box.port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
