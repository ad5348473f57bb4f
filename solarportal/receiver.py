"""The portal side: ``POST /solarportal/receive/`` takes reports from many plants.

Each plant is registered with the portal (serial number, article number, a credential only the
two know). A request names its plant in ``X-Solarportal-Serial`` and signs the body with
HMAC-SHA256 under the plant's credential in ``X-Solarportal-Signature: sha256=<hex>``. The body is
parsed strictly (``solarportal.report.parse``); a report is stored once per report id, a repeat is
acknowledged as ``duplicate`` and changes nothing. Every refusal says why and stores nothing:
401 (unknown serial, bad signature), 400 (not a valid report), 413 (too large), 415 (not XML).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from access.limits import BodyLimit
from solarportal import report as r
from solarportal import secret
from solarportal.models import PortalPlant, ReceivedReport
from solarportal.services import CONTENT_TYPE, SERIAL_HEADER, SIGNATURE_HEADER, sign

REPORT_LIMIT = BodyLimit(r.MAX_BYTES, "solar-portal report")


def register(serial: str, article: str, name: str, credential: str) -> tuple[PortalPlant, str]:
    """Register a plant (or give a registered one a new credential); the credential in force."""
    credential = credential or secrets.token_urlsafe(24)
    row = PortalPlant.objects.filter(serial_number=serial).first()
    if row is None:
        row = PortalPlant(serial_number=serial, machine_id=secrets.token_hex(6).upper())
    row.article_number = article
    row.name = name
    row.credential_encrypted = secret.encrypt(credential)
    row.save()
    return row, credential


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def accept(headers: Any, body: bytes, content_type: str) -> tuple[int, bytes | str]:
    """The portal's decision on one request: (status, acknowledgement or the reason it was refused)."""
    if content_type.split(";")[0].strip().lower() not in (CONTENT_TYPE, "text/xml"):
        return 415, f"the report must be sent as {CONTENT_TYPE}"
    if len(body) > r.MAX_BYTES:
        return 413, REPORT_LIMIT.message()
    serial = (headers.get(SERIAL_HEADER) or "").strip()
    if not serial:
        return 401, f"the {SERIAL_HEADER} header is missing"
    plant = PortalPlant.objects.filter(serial_number=serial).first()
    if plant is None:
        return 401, f"serial number {serial[:40]!r} is not registered with this portal"
    signature = headers.get(SIGNATURE_HEADER) or ""
    key = secret.decrypt(plant.credential_encrypted)
    if not key or not hmac.compare_digest(signature.encode(), sign(body, key).encode()):
        return 401, f"the signature does not match the credential registered for {serial}"
    try:
        report = r.parse(body)
    except r.ReportError as exc:
        return 400, f"invalid report: {exc}"
    if report.serial != plant.serial_number:
        return 400, f"invalid report: it is from {report.serial}, the request from {serial}"
    outcome = r.ACK_STORED
    try:
        with transaction.atomic():
            ReceivedReport.objects.create(
                portal_plant=plant,
                report_id=report.report_id,
                interval_start=report.start,
                interval_end=report.end,
                import_wh=report.energy_wh("active_import_wh"),
                export_wh=report.energy_wh("active_export_wh"),
                pv_wh=report.pv_wh(),
                entries=len(report.entries),
                gaps=sum(1 for e in report.entries if e.gap),
                xml=body.decode("utf-8"),
            )
    except IntegrityError:
        outcome = r.ACK_DUPLICATE  # stored before: acknowledged again, stored once
    return 200, r.ack_xml(report.report_id, outcome, plant.machine_id)


class _FirstRenderer(BaseContentNegotiation):
    """The answer is the portal's own (XML or text): whatever the client's Accept header says."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


@extend_schema(exclude=True)  # the devices' upload, documented in docs/solarportal.md, not a JSON API operation
class ReceiveView(APIView):
    """A machine endpoint like the API: no session or cookie (so no CSRF), each request signed."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    versioning_class = None  # outside /api/v1/: the report format carries its own version
    content_negotiation_class = _FirstRenderer
    body_limit = REPORT_LIMIT

    def post(self, request: Request) -> HttpResponse:
        status, answer = accept(request.headers, request.body, request.content_type or "")
        if isinstance(answer, str):
            return _refuse(status, answer)
        return HttpResponse(answer, status=status, content_type=f"{CONTENT_TYPE}; charset=utf-8")
