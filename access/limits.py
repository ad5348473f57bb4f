"""Request bodies are bounded before anything reads them (issue 14 part 3).

Three layers, outermost first:

* :class:`BodyLimitASGI` in front of Django refuses a body larger than ``ABSOLUTE_MAX_BYTES``
  (the largest upload any route takes) with 413 from its ``Content-Length`` alone, without
  receiving it; a body sent without a length (chunked) is counted while it arrives and the
  connection is answered 413 once it passes the same bound.
* :class:`BodyLimitMiddleware`, before sessions and CSRF (which would parse a form), compares the
  ``Content-Length`` with the cap of the route the request goes to: ``body_limit`` on the view (a
  function's attribute, or a class attribute of a class-based view), otherwise
  ``settings.DATA_UPLOAD_MAX_MEMORY_SIZE``. Each kind of upload has its own cap (``LIMITS``).
* What is within the cap is still parsed in bounded memory: price files row by row, JSON with
  a depth limit (``access.parsers``).

Every refusal is 413 with a message that names the kind of upload and its cap; under ``/api/`` as
JSON ``{"detail": ...}``, elsewhere as a short page.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

API_PREFIX = "/api/"
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    what: str  # "price file", named in the refusal

    def message(self) -> str:
        return f"the {self.what} is larger than {_size(self.max_bytes)}; nothing was read or changed"


def _size(count: int) -> str:
    if count % MIB == 0:
        return f"{count // MIB} MB"
    if count >= MIB:
        return f"{count / MIB:.1f} MB"
    return f"{-(-count // KIB)} KB"


# One cap per kind of upload; the request as a whole (multipart overhead included) must fit.
PRICE_FILE = BodyLimit(8 * MIB, "price file")  # 100,000 lines of start,end,price take about 6 MB
CERTIFICATE = BodyLimit(160 * KIB, "certificate upload")  # key and certificate, 64 KB each
FIRMWARE = BodyLimit(8 * MIB + 64 * KIB, "firmware file")  # the wallbox's 8 MB update block
MODBUS_CONFIG = BodyLimit(1 * MIB, "Modbus configuration file")
# Two years of history compress to a few MB; the cap leaves room for big installations.
BACKUP_FILE = BodyLimit(256 * MIB, "backup file")
LIMITS = (PRICE_FILE, CERTIFICATE, FIRMWARE, MODBUS_CONFIG, BACKUP_FILE)
ABSOLUTE_MAX_BYTES = max(limit.max_bytes for limit in LIMITS)

V = TypeVar("V")


def body_limit(limit: BodyLimit) -> Callable[[V], V]:
    """Declare a view's cap: ``@body_limit(PRICE_FILE)`` on a function (outermost or inner, the
    wrapping decorators copy it) or a class."""

    def mark(view: V) -> V:
        view.body_limit = limit  # type: ignore[attr-defined]
        return view

    return mark


def default_limit() -> BodyLimit:
    return BodyLimit(int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or ABSOLUTE_MAX_BYTES), "request body")


def limit_for(path_info: str) -> BodyLimit:
    try:
        func: Any = resolve(path_info).func
    except Resolver404:
        try:  # served with the slash added (access.middleware.ApiCommonMiddleware)
            func = resolve(path_info + "/").func
        except Resolver404:
            return default_limit()
    declared = getattr(func, "body_limit", None) or getattr(getattr(func, "view_class", None), "body_limit", None)
    return declared if isinstance(declared, BodyLimit) else default_limit()


def too_large(path: str, limit: BodyLimit) -> HttpResponse:
    if path.startswith(API_PREFIX):
        return JsonResponse({"detail": limit.message(), "max_bytes": limit.max_bytes}, status=413)
    message = limit.message()
    text = html.escape(message[:1].upper() + message[1:] + ".")
    page = f'<!DOCTYPE html><html lang="en"><title>413</title><h1>Too large</h1><p role="alert">{text}</p></html>'
    return HttpResponse(page, status=413)


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or ""
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                return _bad_length(request.path)
            limit = limit_for(request.path_info)
            if int(raw) > limit.max_bytes:
                return too_large(request.path, limit)
        return self.get_response(request)


def _bad_length(path: str) -> HttpResponse:
    if path.startswith(API_PREFIX):
        return JsonResponse({"detail": "the Content-Length header is not a number"}, status=400)
    return HttpResponse("The Content-Length header is not a number.", status=400, content_type="text/plain")


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _TooLarge(Exception):
    pass


class BodyLimitASGI:
    """Refuses an HTTP body over ``max_bytes`` before the application reads it."""

    def __init__(self, app: Any, max_bytes: int = ABSOLUTE_MAX_BYTES) -> None:
        self.app = app
        self.limit = BodyLimit(max_bytes, "request body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.limit.max_bytes:
            return await self._refuse(scope, send)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit.max_bytes:
                    raise _TooLarge
            return message

        async def noting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = too_large(str(scope.get("path", "")), self.limit)
        headers = [(b"content-type", response["Content-Type"].encode()), (b"connection", b"close")]
        headers.append((b"content-length", str(len(response.content)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = bytes(value).decode("latin-1")
            return int(text) if text.isascii() and text.isdigit() else None
    return None
